//! Arkouda's own reply JSON.
