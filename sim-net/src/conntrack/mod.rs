//! Connection tracking and NAT bindings. (in progress)
