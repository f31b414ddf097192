//! Faults for the conformance and fault-injection suites: ports that fail, hang or die part-way
//! ([`ports`]), and a proxy that throttles DynamoDB or loses its answers ([`proxy`]).

pub mod ports;
pub mod proxy;
