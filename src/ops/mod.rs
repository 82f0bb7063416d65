//! The standard gRPC services operators and tools expect beside
//! `HandleRequest`: health checking (`grpc.health.v1.Health`) and server
//! reflection (`grpc.reflection.v1.ServerReflection` and its `v1alpha`
//! predecessor, which many tools still ask for).
//!
//! This module holds their messages and answers, as values; the server
//! routes calls of their methods here (see `grpc::Server::with_methods`).
//! Message field numbers are those of the services' published schemas.

pub mod health;
pub mod reflection;
