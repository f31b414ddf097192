//! Faults for the conformance and fault-injection suites: ports that fail, hang or die part-way
//! ([`ports`]), and a proxy that throttles DynamoDB or loses its answers ([`proxy`]).

pub mod ports;
pub mod proxy;

/// Runs each named scenario once per listed backend, as `<module>::<name>`:
/// `per_backend!([embedded => Embedded, dynamodb => Dynamo] [scenario_a, scenario_b])` calls
/// `scenario_a(Backend::Embedded)` as `embedded::scenario_a`, and so on.
macro_rules! per_backend {
    ([$($module:ident => $backend:ident),* $(,)?] $names:tt) => {
        $(per_backend!(@module $module $backend $names);)*
    };
    (@module $module:ident $backend:ident [$($name:ident),* $(,)?]) => {
        mod $module {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                super::$name(super::Backend::$backend).await;
            })*
        }
    };
}
