//! Scripting knobs for chaos testing: binary messages, late and duplicate
//! results. Each applies to the gateway's connections from now on.

use std::time::Duration;

use super::script::ConnCmd;
use super::Connector;

impl Connector {
    /// Whether the gateway's outgoing messages are sent as binary messages
    /// (the UTF-8 bytes of the text) instead of text messages.
    pub fn binary_frames(&self, gateway_id: &str, yes: bool) {
        self.state().gateway(gateway_id).binary = yes;
    }

    /// Sends `bytes` verbatim as one binary message to the gateway's open
    /// connections now (not necessarily UTF-8); returns how many got it.
    pub fn send_binary(&self, gateway_id: &str, bytes: &[u8]) -> usize {
        self.state()
            .broadcast(gateway_id, || ConnCmd::Binary(bytes.to_vec()))
    }

    /// Holds each `outbound_result` of the gateway's connections for
    /// `delay` before sending it (`None`: at once). A result whose
    /// connection ends first is never sent.
    pub fn delay_results(&self, gateway_id: &str, delay: Option<Duration>) {
        self.state().gateway(gateway_id).result_delay = delay;
    }

    /// Whether each `outbound_result` is sent twice, back to back.
    pub fn duplicate_results(&self, gateway_id: &str, yes: bool) {
        self.state().gateway(gateway_id).duplicate_results = yes;
    }
}
