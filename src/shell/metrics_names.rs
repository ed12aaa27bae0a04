//! The names of the metrics a link exports with the `metrics` feature,
//! through the [`metrics`](https://docs.rs/metrics) facade: the figures of
//! [`LinkStats`](super::LinkStats) as counters and gauges. Every metric
//! carries the label `gateway` (the configured gateway id, `-` without
//! one); the install of a recorder (Prometheus, StatsD …) is the
//! application's.
//!
//! | name | type | labels | what |
//! |---|---|---|---|
//! | `relay_link_dials_total` | counter | | dials issued |
//! | `relay_link_dial_failures_total` | counter | `kind`: `refused`, `dns`, `tls`, `reset`, `timeout`, `http`, `closed`, `other` | dials that failed before their socket opened |
//! | `relay_link_handshakes_total` | counter | | connections that handshook |
//! | `relay_link_closes_total` | counter | `code` (1006: no close frame) | connections closed, by either side |
//! | `relay_link_requests_total` | counter | `outcome`: `result`, `timed_out`, `connection_lost`, `not_connected`, `closed`, `duplicate_id`, `too_large` | requests settled |
//! | `relay_link_frames_received_total` | counter | | well-formed frames received |
//! | `relay_link_malformed_frames_total` | counter | | lines skipped as malformed |
//! | `relay_link_stale_inputs_total` | counter | | inputs about an older dial or connection |
//! | `relay_link_redeliveries_total` | counter | | buffered deliveries received again and not delivered twice |
//! | `relay_link_queued_events` | gauge | | events waiting for the application |
//! | `relay_link_in_flight_requests` | gauge | | requests written and waiting for their result |
//! | `relay_link_state` | gauge | `state`: each [`LinkState`](crate::LinkState) name | 1 for the current state, 0 for the others |
//! | `relay_link_state_changed_seconds` | gauge | | when the current state was entered (seconds since the Unix epoch): the time in the state is now minus this |
//!
//! The counters are exported as absolute values after each turn of the
//! link's driver (two links with the same gateway id would share them).

/// Dials issued.
pub const DIALS: &str = "relay_link_dials_total";
/// Dials that failed before their socket opened, by `kind`.
pub const DIAL_FAILURES: &str = "relay_link_dial_failures_total";
/// Connections that handshook.
pub const HANDSHAKES: &str = "relay_link_handshakes_total";
/// Connections closed, by `code`.
pub const CLOSES: &str = "relay_link_closes_total";
/// Requests settled, by `outcome`.
pub const REQUESTS: &str = "relay_link_requests_total";
/// Well-formed frames received.
pub const FRAMES_RECEIVED: &str = "relay_link_frames_received_total";
/// Lines skipped as malformed.
pub const MALFORMED_FRAMES: &str = "relay_link_malformed_frames_total";
/// Inputs about an older dial or connection.
pub const STALE_INPUTS: &str = "relay_link_stale_inputs_total";
/// Buffered deliveries received again.
pub const REDELIVERIES: &str = "relay_link_redeliveries_total";
/// Events waiting for the application.
pub const QUEUED_EVENTS: &str = "relay_link_queued_events";
/// Requests written and waiting for their result.
pub const IN_FLIGHT_REQUESTS: &str = "relay_link_in_flight_requests";
/// 1 for the current `state`, 0 for the others.
pub const STATE: &str = "relay_link_state";
/// When the current state was entered, in seconds since the Unix epoch.
pub const STATE_CHANGED: &str = "relay_link_state_changed_seconds";
