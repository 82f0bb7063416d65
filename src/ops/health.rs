//! `grpc.health.v1.Health/Check` and `Watch`: whether the server, or one
//! of its services, is serving.

use alloc::string::String;
use core::sync::atomic::{AtomicBool, AtomicU8, Ordering};

/// The method path of `Check`.
pub const CHECK_PATH: &str = "/grpc.health.v1.Health/Check";
/// The method path of `Watch` (a server stream of the status, sent at once
/// and again on each change).
pub const WATCH_PATH: &str = "/grpc.health.v1.Health/Watch";
/// The service name of `HandleRequest`, as a health check may ask for it.
pub const ARKOUDA_SERVICE: &str = "arkouda.Arkouda";

/// `HealthCheckRequest`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct HealthCheckRequest {
    /// The service asked about; empty for the server as a whole.
    #[prost(string, tag = "1")]
    pub service: String,
}

/// `HealthCheckResponse`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct HealthCheckResponse {
    /// A [`ServingStatus`] as its number.
    #[prost(enumeration = "ServingStatus", tag = "1")]
    pub status: i32,
}

/// `HealthCheckResponse.ServingStatus`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum ServingStatus {
    /// Not known.
    Unknown = 0,
    /// Serving requests.
    Serving = 1,
    /// Not serving (draining, or the upstream is down).
    NotServing = 2,
    /// No such service (only `Watch` uses it; `Check` answers NOT_FOUND).
    ServiceUnknown = 3,
}

/// The server's health as one atomic cell, set by whoever knows (the
/// upstream watcher, say) and read by every `Check`; once the server drains
/// it stays NOT_SERVING whatever is set.
#[derive(Debug)]
pub struct Health {
    status: AtomicU8,
    draining: AtomicBool,
}

impl Health {
    /// Starts as `status`.
    pub const fn new(status: ServingStatus) -> Self {
        Health {
            status: AtomicU8::new(status as u8),
            draining: AtomicBool::new(false),
        }
    }

    /// Sets the status (ignored, in effect, once draining).
    pub fn set(&self, status: ServingStatus) {
        self.status.store(status as u8, Ordering::Relaxed);
    }

    /// The server drains: NOT_SERVING from now on, so load balancers send
    /// new work elsewhere.
    pub fn set_draining(&self) {
        self.draining.store(true, Ordering::Relaxed);
    }

    /// Whether [`set_draining`](Self::set_draining) was called.
    pub fn is_draining(&self) -> bool {
        self.draining.load(Ordering::Relaxed)
    }

    /// The status now.
    pub fn get(&self) -> ServingStatus {
        if self.is_draining() {
            return ServingStatus::NotServing;
        }
        match self.status.load(Ordering::Relaxed) {
            1 => ServingStatus::Serving,
            2 => ServingStatus::NotServing,
            3 => ServingStatus::ServiceUnknown,
            _ => ServingStatus::Unknown,
        }
    }

    /// Answers a `Check` request's bytes: the response's bytes, or `None`
    /// when the service is not one of ours (the call then ends NOT_FOUND, as
    /// the health protocol asks) or the request does not decode
    /// (INVALID_ARGUMENT; see [`CheckError`]).
    pub fn check(&self, request: &[u8]) -> Result<alloc::vec::Vec<u8>, CheckError> {
        use prost::Message;
        let request = HealthCheckRequest::decode(request).map_err(|_| CheckError::Malformed)?;
        if !request.service.is_empty() && request.service != ARKOUDA_SERVICE {
            return Err(CheckError::UnknownService);
        }
        Ok(HealthCheckResponse {
            status: self.get() as i32,
        }
        .encode_to_vec())
    }
}

/// Why a `Check` has no answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CheckError {
    /// The request is not a `HealthCheckRequest` (INVALID_ARGUMENT).
    Malformed,
    /// The service is not one the server has (NOT_FOUND).
    UnknownService,
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message;

    #[test]
    fn check_answers_with_the_status_set_last() {
        let health = Health::new(ServingStatus::Serving);
        // Bytes by hand: field 1, length-delimited, "arkouda.Arkouda".
        let mut ask = alloc::vec![0x0a, 15];
        ask.extend_from_slice(ARKOUDA_SERVICE.as_bytes());
        assert_eq!(health.check(&ask).unwrap(), [0x08, 0x01]);
        health.set(ServingStatus::NotServing);
        assert_eq!(health.check(&[]).unwrap(), [0x08, 0x02]);
        let other = HealthCheckRequest {
            service: "other.Service".into(),
        };
        assert_eq!(
            health.check(&other.encode_to_vec()),
            Err(CheckError::UnknownService)
        );
        assert_eq!(health.check(&[0xff]), Err(CheckError::Malformed));
        // Draining wins over whatever is set afterwards.
        health.set(ServingStatus::Serving);
        health.set_draining();
        health.set(ServingStatus::Serving);
        assert_eq!(health.check(&[]).unwrap(), [0x08, 0x02]);
    }
}
