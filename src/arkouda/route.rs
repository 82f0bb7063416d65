//! Routing each user to their own arkouda_server: a table from user names
//! (exact, or a glob pattern such as `team-*`) to handlers, with a default
//! route for everyone else, and the reachability of each route's upstream
//! for a health service to report.
//!
//! Lookup order: an exact name first, then the glob patterns in the order
//! they were given (the first that matches wins), then the default route.
//! A glob pattern knows `*` (any run of characters, the empty one too) and
//! `?` (exactly one character); every other character stands for itself.
//!
//! [`Router`] is a [`Handler`] over such a table: each route has a handler
//! of its own (a proxy with its own dispatcher, pool, deadline and connect
//! backoff), so a route whose upstream is down or slow holds up only the
//! calls of its own users.

use std::collections::BTreeSet;
use std::string::{String, ToString};
use std::sync::Arc;
use std::vec::Vec;

use super::service::{Handler, Responder};
use crate::grpc::Code;
use crate::proto::ArkoudaRequest;

/// The name of the route that takes the users no other route names.
pub const DEFAULT_ROUTE: &str = "default";

/// Who a route is for: one user name, or a glob pattern of names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserPattern {
    text: String,
    glob: bool,
}

impl UserPattern {
    /// A pattern from its text: with a `*` or `?` it is a glob, otherwise
    /// an exact user name. The empty text is refused.
    pub fn parse(text: &str) -> Result<Self, String> {
        if text.is_empty() {
            return Err("a route needs a user name or pattern before `=`".into());
        }
        Ok(UserPattern {
            text: text.to_string(),
            glob: text.contains(['*', '?']),
        })
    }

    /// Whether the pattern has wildcards.
    pub fn is_glob(&self) -> bool {
        self.glob
    }

    /// The pattern as given.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Whether `user` is one this pattern stands for.
    pub fn matches(&self, user: &str) -> bool {
        if self.glob {
            glob_match(self.text.as_bytes(), user.as_bytes())
        } else {
            self.text == user
        }
    }
}

/// `*` and `?` glob matching over UTF-8 text, without recursion: a star
/// remembers where it stood and, on a mismatch, takes one more character.
/// At most pattern × text steps, and the pattern is the operator's.
fn glob_match(pattern: &[u8], text: &[u8]) -> bool {
    let (mut p, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        match pattern.get(p) {
            Some(b'*') => {
                star = Some((p, t));
                p += 1;
            }
            Some(b'?') => {
                // One character: a UTF-8 lead byte and its continuation bytes.
                t += 1;
                while t < text.len() && text[t] & 0xC0 == 0x80 {
                    t += 1;
                }
                p += 1;
            }
            Some(&c) if c == text[t] => {
                p += 1;
                t += 1;
            }
            _ => match star {
                Some((sp, st)) => {
                    // The star takes one more character (all of it).
                    let mut next = st + 1;
                    while next < text.len() && text[next] & 0xC0 == 0x80 {
                        next += 1;
                    }
                    star = Some((sp, next));
                    p = sp + 1;
                    t = next;
                }
                None => return false,
            },
        }
    }
    pattern[p.min(pattern.len())..].iter().all(|&c| c == b'*')
}

/// A route's own limits, overriding the proxy-wide `--upstream-*` flags.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RouteOverrides {
    /// Persistent connections (`pool=N`).
    pub pool: Option<usize>,
    /// Deadline of a call whose client sent none, in ms (`timeout-ms=N`).
    pub timeout_ms: Option<u64>,
    /// Calls in flight to the route's arkouda_server (`max-inflight=N`).
    pub max_inflight: Option<usize>,
}

/// One `--route` item: `USER=tcp://HOST:PORT`, optionally followed by
/// `,pool=N`, `,timeout-ms=N` and `,max-inflight=N`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RouteSpec {
    /// Whose calls take this route.
    pub users: UserPattern,
    /// arkouda_server's ZeroMQ address (`tcp://HOST:PORT` or `HOST:PORT`).
    pub upstream: String,
    /// This route's own limits.
    pub overrides: RouteOverrides,
}

impl core::str::FromStr for RouteSpec {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let (users, rest) = text
            .split_once('=')
            .ok_or_else(|| std::format!("expected USER=tcp://HOST:PORT, not {text:?}"))?;
        let users = UserPattern::parse(users.trim())?;
        let mut parts = rest.split(',');
        let upstream = parts.next().unwrap_or("").trim();
        let address = upstream.strip_prefix("tcp://").unwrap_or(upstream);
        let port = address
            .rsplit_once(':')
            .map(|(_, port)| port.parse::<u16>());
        if !matches!(port, Some(Ok(p)) if p > 0) || address.starts_with(':') {
            return Err(std::format!(
                "route {:?}: expected an upstream tcp://HOST:PORT, not {upstream:?}",
                users.as_str()
            ));
        }
        let mut overrides = RouteOverrides::default();
        for part in parts {
            let (key, value) = part.split_once('=').unwrap_or((part, ""));
            let bad = || {
                std::format!(
                    "route {:?}: `{part}` is not pool=N, timeout-ms=N or max-inflight=N \
                     (N at least 1)",
                    users.as_str()
                )
            };
            let number = value.trim().parse::<u64>().ok().filter(|&n| n > 0);
            let number = number.ok_or_else(bad)?;
            let count = usize::try_from(number).map_err(|_| bad())?;
            match key.trim().replace('_', "-").as_str() {
                "pool" => overrides.pool = Some(count),
                "timeout-ms" => overrides.timeout_ms = Some(number),
                "max-inflight" => overrides.max_inflight = Some(count),
                _ => return Err(bad()),
            }
        }
        Ok(RouteSpec {
            users,
            upstream: upstream.to_string(),
            overrides,
        })
    }
}

/// A route: its name (the pattern, or [`DEFAULT_ROUTE`]) and what it leads to.
#[derive(Debug)]
pub struct Route<T> {
    /// The route's name in messages and health reports.
    pub name: String,
    /// Who takes it; `None` for the default route.
    pub users: Option<UserPattern>,
    /// Where its calls go.
    pub target: T,
}

/// Routes looked up by user name; see the module docs for the order.
#[derive(Debug)]
pub struct RouteTable<T> {
    routes: Vec<Route<T>>,
    default: Option<Route<T>>,
}

impl<T> Default for RouteTable<T> {
    fn default() -> Self {
        RouteTable {
            routes: Vec::new(),
            default: None,
        }
    }
}

impl<T> RouteTable<T> {
    /// An empty table: every user is unrouted.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a route for `users`; a pattern given twice is refused.
    pub fn add(&mut self, users: UserPattern, target: T) -> Result<(), String> {
        if self.routes.iter().any(|r| r.users.as_ref() == Some(&users)) {
            return Err(std::format!(
                "two routes for {:?}: each user or pattern takes one route",
                users.as_str()
            ));
        }
        self.routes.push(Route {
            name: users.as_str().to_string(),
            users: Some(users),
            target,
        });
        Ok(())
    }

    /// Sets the route of every user no other route takes.
    pub fn set_default(&mut self, target: T) {
        self.default = Some(Route {
            name: DEFAULT_ROUTE.to_string(),
            users: None,
            target,
        });
    }

    /// The route `user`'s calls take, if any.
    pub fn lookup(&self, user: &str) -> Option<&Route<T>> {
        let named = |r: &&Route<T>| {
            r.users
                .as_ref()
                .is_some_and(|u| !u.is_glob() && u.matches(user))
        };
        let globbed = |r: &&Route<T>| {
            r.users
                .as_ref()
                .is_some_and(|u| u.is_glob() && u.matches(user))
        };
        self.routes
            .iter()
            .find(named)
            .or_else(|| self.routes.iter().find(globbed))
            .or(self.default.as_ref())
    }

    /// Every route, the default one last.
    pub fn iter(&self) -> impl Iterator<Item = &Route<T>> {
        self.routes.iter().chain(self.default.as_ref())
    }

    /// The default route, if there is one.
    pub fn default_route(&self) -> Option<&Route<T>> {
        self.default.as_ref()
    }
}

/// What is known of an upstream without sending it a command.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reachability {
    /// Nothing tried yet.
    Unknown,
    /// The last connection attempt or call reached it.
    Reachable,
    /// The last connection attempt failed, or a connection broke; new
    /// attempts are throttled.
    Unreachable,
}

/// An upstream whose reachability a health service can report.
pub trait Upstream: Send + Sync {
    /// What is known now, without waiting or touching the network.
    fn reachability(&self) -> Reachability;
    /// The upstream's address, for people.
    fn address(&self) -> &str;
}

/// One route's state, for a health service.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RouteHealth {
    /// The route's name (its user pattern, or [`DEFAULT_ROUTE`]).
    pub name: String,
    /// Its upstream's address; `None` for a route answered in the process.
    pub address: Option<String>,
    /// What is known of its upstream; a route answered in the process is
    /// always [`Reachability::Reachable`].
    pub reachability: Reachability,
}

impl RouteHealth {
    /// The name this route goes by in `grpc.health.v1.Health`:
    /// `arkouda.Arkouda/route/<name>`.
    pub fn service_name(&self) -> String {
        std::format!("arkouda.Arkouda/route/{}", self.name)
    }

    /// Whether a health check should say SERVING: unless the last attempt
    /// failed (nothing tried yet counts as serving: the first call tries).
    pub fn serving(&self) -> bool {
        self.reachability != Reachability::Unreachable
    }
}

/// Where one route's calls go: the handler, and the upstream behind it
/// when there is one (for health reports).
pub struct RouteTarget {
    /// Handles the route's calls (a proxy of its own).
    pub handler: Arc<dyn Handler>,
    /// The route's upstream, when it forwards to one.
    pub upstream: Option<Arc<dyn Upstream>>,
}

impl core::fmt::Debug for RouteTarget {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("RouteTarget")
            .field("upstream", &self.upstream.as_ref().map(|u| u.address()))
            .finish_non_exhaustive()
    }
}

/// A [`Handler`] that hands each request to its user's route. A user no
/// route takes (and no default route) is answered PERMISSION_DENIED.
#[derive(Debug)]
pub struct Router {
    table: RouteTable<RouteTarget>,
}

impl Router {
    /// A router over `table`.
    pub fn new(table: RouteTable<RouteTarget>) -> Self {
        Router { table }
    }

    /// The routing table.
    pub fn table(&self) -> &RouteTable<RouteTarget> {
        &self.table
    }

    /// Each route's state, the default route last; cheap, never blocks.
    pub fn health(&self) -> Vec<RouteHealth> {
        self.table
            .iter()
            .map(|r| RouteHealth {
                name: r.name.clone(),
                address: r.target.upstream.as_ref().map(|u| u.address().to_string()),
                reachability: r
                    .target
                    .upstream
                    .as_ref()
                    .map_or(Reachability::Reachable, |u| u.reachability()),
            })
            .collect()
    }

    /// Whether the proxy as a whole is serving: while its default route
    /// is (a proxy without one serves whenever any route does).
    pub fn serving(&self) -> bool {
        let health = self.health();
        match self.table.default_route() {
            Some(_) => health.last().is_some_and(RouteHealth::serving),
            None => health.iter().any(RouteHealth::serving),
        }
    }

    /// The distinct upstream addresses, for logs.
    pub fn addresses(&self) -> BTreeSet<String> {
        self.health()
            .into_iter()
            .filter_map(|h| h.address)
            .collect()
    }
}

impl Handler for Router {
    fn handle(&self, request: ArkoudaRequest, responder: Responder) {
        match self.table.lookup(&request.user) {
            Some(route) => route.target.handler.handle(request, responder),
            None => no_route(&request, responder),
        }
    }

    fn takes_streamed(&self) -> bool {
        self.table.iter().all(|r| r.target.handler.takes_streamed())
    }

    fn handle_streamed(
        &self,
        request: ArkoudaRequest,
        upload: super::pipe::Upload,
        responder: Responder,
    ) {
        match self.table.lookup(&request.user) {
            Some(route) => route
                .target
                .handler
                .handle_streamed(request, upload, responder),
            None => {
                upload.pipe.abort(Code::PermissionDenied, "no route");
                no_route(&request, responder)
            }
        }
    }
}

fn no_route(request: &ArkoudaRequest, responder: Responder) {
    responder.error(
        Code::PermissionDenied,
        &std::format!(
            "no route for user {:?}: no --route matches and there is no default upstream",
            request.user
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A handler that answers every call with `code`.
    fn refusing(code: Code, message: &'static str) -> Arc<dyn Handler> {
        Arc::new(move |_: ArkoudaRequest, r: Responder| r.error(code, message))
    }

    fn pattern(text: &str) -> UserPattern {
        UserPattern::parse(text).unwrap()
    }

    #[test]
    fn globs_match_stars_and_single_characters() {
        let cases = [
            ("team-*", "team-a", true),
            ("team-*", "team-", true),
            ("team-*", "tea", false),
            ("team-*", "xteam-a", false),
            ("*", "", true),
            ("*-ops", "night-ops", true),
            ("*-ops", "night-opsx", false),
            ("a*b*c", "aXbYbZc", true),
            ("a*b*c", "aXbYbZ", false),
            ("u?", "u1", true),
            ("u?", "u", false),
            ("u?", "u12", false),
            ("u?", "uü", true),
            ("*ü", "grün-ü", true),
            ("**", "x", true),
        ];
        for (p, user, want) in cases {
            assert_eq!(pattern(p).matches(user), want, "{p} vs {user}");
        }
        assert!(!pattern("alice").is_glob());
        assert!(pattern("alice").matches("alice"));
        assert!(!pattern("alice").matches("alice2"));
        assert!(UserPattern::parse("").is_err());
    }

    #[test]
    fn exact_names_win_then_globs_in_order_then_the_default() {
        let mut t = RouteTable::new();
        t.add(pattern("team-*"), 1).unwrap();
        t.add(pattern("team-a*"), 2).unwrap();
        t.add(pattern("team-ab"), 3).unwrap();
        assert!(t.add(pattern("team-*"), 9).is_err());
        let at = |t: &RouteTable<i32>, user| t.lookup(user).map(|r| r.target);
        assert_eq!(at(&t, "team-ab"), Some(3));
        assert_eq!(at(&t, "team-ac"), Some(1), "the first glob given wins");
        assert_eq!(at(&t, "bob"), None);
        t.set_default(0);
        assert_eq!(at(&t, "bob"), Some(0));
        assert_eq!(t.lookup("bob").unwrap().name, DEFAULT_ROUTE);
        let names: Vec<_> = t.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["team-*", "team-a*", "team-ab", "default"]);
    }

    #[test]
    fn route_items_parse_with_their_overrides_and_bad_ones_say_why() {
        let r: RouteSpec = "team-*=tcp://h:5555".parse().unwrap();
        assert_eq!(r.users.as_str(), "team-*");
        assert_eq!(r.upstream, "tcp://h:5555");
        assert_eq!(r.overrides, RouteOverrides::default());
        let r: RouteSpec = "alice=h:1,pool=2,timeout-ms=300,max_inflight=1"
            .parse()
            .unwrap();
        assert_eq!(
            r.overrides,
            RouteOverrides {
                pool: Some(2),
                timeout_ms: Some(300),
                max_inflight: Some(1)
            }
        );
        for bad in [
            "alice",
            "=tcp://h:1",
            "alice=tcp://h",
            "alice=tcp://h:0",
            "alice=tcp://:5",
            "alice=h:1,pool=0",
            "alice=h:1,pool",
            "alice=h:1,color=3",
        ] {
            assert!(bad.parse::<RouteSpec>().is_err(), "{bad}");
        }
    }

    struct Fixed(Reachability);
    impl Upstream for Fixed {
        fn reachability(&self) -> Reachability {
            self.0
        }
        fn address(&self) -> &str {
            "h:1"
        }
    }

    fn target(r: Option<Reachability>) -> RouteTarget {
        RouteTarget {
            handler: refusing(Code::Unavailable, "test"),
            upstream: r.map(|r| Arc::new(Fixed(r)) as Arc<dyn Upstream>),
        }
    }

    #[test]
    fn health_names_each_route_and_follows_the_default() {
        let mut t = RouteTable::new();
        t.add(pattern("alice"), target(Some(Reachability::Unreachable)))
            .unwrap();
        t.set_default(target(Some(Reachability::Unknown)));
        let router = Router::new(t);
        let h = router.health();
        assert_eq!(h[0].service_name(), "arkouda.Arkouda/route/alice");
        assert!(!h[0].serving());
        assert_eq!(h[1].name, DEFAULT_ROUTE);
        assert!(router.serving(), "the default route decides");
        let mut t = RouteTable::new();
        t.add(pattern("alice"), target(Some(Reachability::Reachable)))
            .unwrap();
        t.set_default(target(Some(Reachability::Unreachable)));
        assert!(!Router::new(t).serving());
        let mut t = RouteTable::new();
        t.add(pattern("alice"), target(None)).unwrap();
        assert!(Router::new(t).serving(), "an in-process route serves");
    }
}
