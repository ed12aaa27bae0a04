//! `relay-link connector`: the loopback test connector on the command
//! line, scripted from standard input, for testing a gateway by hand.

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use clap::Args;
use relay_link::testing::{Connector, ConnectorOptions};
use relay_link::token::Secret;
use serde_json::Value;
use smol::io::AsyncBufReadExt;

use super::help::CONNECTOR_COMMANDS as HELP;
use super::{EXIT_OK, EXIT_USAGE};

/// Gateways and their secrets: `GW=SECRET,GW2=SECRET2`.
pub(crate) const SECRETS_ENV: &str = "RELAY_LINK_CONNECTOR_SECRETS";

/// `relay-link connector` options.
#[derive(Debug, Args)]
#[command(after_help = super::help::CONNECTOR)]
pub(crate) struct ConnectorArgs {
    /// Address to listen on, e.g. 127.0.0.1:8765 (port 0: any free port).
    /// Keep it loopback: this is a test connector.
    #[arg(long, default_value = "127.0.0.1:8765")]
    listen: SocketAddr,
    /// Accept upgrades without an Authorization header.
    #[arg(long)]
    allow_anonymous: bool,
}

/// The warning for a `--listen` address other hosts can reach.
fn listen_warning(listen: SocketAddr) -> Option<String> {
    (!listen.ip().is_loopback()).then(|| {
        format!(
            "--listen {listen} is not a loopback address: other hosts can reach this test \
connector (plain ws://, no TLS, and its stdin revokes gateways); use 127.0.0.1"
        )
    })
}

/// The base URL a gateway on this host dials: the bound address, with an
/// unspecified one (`0.0.0.0`, `::`) replaced by loopback.
fn dialable_url(bound: SocketAddr) -> String {
    let ip = match bound.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    format!("ws://{}", SocketAddr::new(ip, bound.port()))
}

/// Parses `GW=SECRET,…`; a pair without `=` is an error naming it.
fn parse_secrets(raw: &str) -> Result<Vec<(String, Secret)>, String> {
    raw.split(',')
        .map(str::trim)
        .filter(|pair| !pair.is_empty())
        .map(|pair| match pair.split_once('=') {
            Some((gw, secret)) if !gw.is_empty() => Ok((gw.to_owned(), Secret::new(secret))),
            _ => Err(format!(
                "{SECRETS_ENV}: expected GW=SECRET, got an entry for {:?}",
                pair.split('=').next().unwrap_or("")
            )),
        })
        .collect()
}

pub(crate) fn run(args: ConnectorArgs) -> u8 {
    let secrets = match parse_secrets(&std::env::var(SECRETS_ENV).unwrap_or_default()) {
        Ok(secrets) => secrets,
        Err(e) => {
            eprintln!("relay-link: {e}");
            return EXIT_USAGE;
        }
    };
    if let Some(warning) = listen_warning(args.listen) {
        eprintln!("relay-link: warning: {warning}");
    }
    smol::block_on(async {
        let connector = match Connector::start_on(args.listen, ConnectorOptions::default()).await {
            Ok(connector) => connector,
            Err(e) => {
                eprintln!("relay-link: listen {}: {e}", args.listen);
                return EXIT_USAGE;
            }
        };
        connector.allow_anonymous(args.allow_anonymous);
        let mut registered = BTreeSet::new();
        for (gw, secret) in secrets {
            println!("gateway {gw} registered");
            connector.add_gateway(&gw, secret);
            registered.insert(gw);
        }
        let url = dialable_url(connector.local_addr());
        println!(
            "connector listening on {}; url {url} (gateways dial {url}/relay)",
            connector.local_addr()
        );
        let example = registered.first().map_or("GW", String::as_str);
        println!(
            "dial it: RELAY_LINK_SECRET=<{example}'s secret> relay-link connect --url {url} --gateway-id {example}"
        );
        println!("{HELP}");
        smol::spawn(log_activity(connector.clone())).detach();
        let mut lines = smol::io::BufReader::new(smol::Unblock::with_capacity(
            super::STDIN_BUFFER,
            std::io::stdin(),
        ))
        .lines();
        use futures_util::StreamExt;
        while let Some(Ok(line)) = lines.next().await {
            let line = line.trim();
            if let Some(warning) = unknown_gateway_warning(line, &registered) {
                eprintln!("relay-link: warning: {warning}");
            }
            println!("{}", command(&connector, line));
        }
        // End of input: keep serving until interrupted.
        std::future::pending::<()>().await;
        EXIT_OK
    })
}

/// Logs dials, frames and closes as they happen (polling the record).
async fn log_activity(connector: Connector) {
    let (mut dials, mut frames, mut closes) = (0, 0, 0);
    loop {
        smol::Timer::after(std::time::Duration::from_millis(100)).await;
        let seen = connector.seen();
        for dial in seen.dials.iter().skip(dials) {
            let gw = dial.gateway_id.as_deref().unwrap_or("(no token)");
            println!("dial from {gw}: {:?}", dial.outcome);
        }
        for frame in seen.frames.iter().skip(frames) {
            println!("{} sent {}", frame.gateway, frame.kind().unwrap_or("?"));
        }
        for close in seen.closes.iter().skip(closes) {
            println!(
                "{} closed with {:?} {:?}",
                close.gateway, close.code, close.reason
            );
        }
        (dials, frames, closes) = (seen.dials.len(), seen.frames.len(), seen.closes.len());
    }
}

/// The gateway a command names, if it names one (`revoke GW`, `push GW …`).
fn named_gateway(line: &str) -> Option<&str> {
    let mut words = line.splitn(3, ' ');
    match (words.next()?, words.next()?) {
        (_, "") => None,
        ("revoke" | "reinstate" | "expire" | "drop" | "stall" | "unstall" | "push", gw) => Some(gw),
        _ => None,
    }
}

/// The warning for a command naming a gateway that is not registered: it
/// can never connect, so a push to it stays buffered for nobody.
fn unknown_gateway_warning(line: &str, registered: &BTreeSet<String>) -> Option<String> {
    let gw = named_gateway(line)?;
    if registered.contains(gw) {
        return None;
    }
    let known = if registered.is_empty() {
        "none".to_owned()
    } else {
        registered.iter().cloned().collect::<Vec<_>>().join(", ")
    };
    Some(format!(
        "{gw:?} is not a registered gateway ({SECRETS_ENV} registers: {known}); \
it cannot connect, so this reaches no gateway"
    ))
}

/// Runs one stdin command and says what it did.
fn command(connector: &Connector, line: &str) -> String {
    let mut words = line.splitn(3, ' ');
    let verb = words.next().unwrap_or("");
    let gw = words.next().unwrap_or("");
    match (verb, gw) {
        ("", _) => String::new(),
        ("help", _) => HELP.into(),
        ("list", _) => {
            let seen = connector.seen();
            let mut gateways: Vec<&str> = seen
                .connections
                .iter()
                .map(|c| c.gateway.as_str())
                .collect();
            gateways.sort_unstable();
            gateways.dedup();
            let mut out = format!(
                "{} dials, {} frames received",
                seen.dials.len(),
                seen.frames.len()
            );
            for gw in gateways {
                out.push_str(&format!(
                    "\n  {gw}: {} open connection(s), {} buffered",
                    seen.open_connections(gw),
                    connector.buffered(gw).len()
                ));
            }
            out
        }
        (_, "") => format!("{verb}: which gateway? (try `help`)"),
        ("revoke", gw) => {
            connector.revoke(gw);
            format!("revoked {gw}: 4401 unauthorized now and on its next dials")
        }
        ("reinstate", gw) => {
            connector.reinstate(gw);
            format!("reinstated {gw}")
        }
        ("expire", gw) => {
            connector.expire_token(gw);
            format!("expired {gw}'s token: 4401 expired")
        }
        ("drop", gw) => {
            connector.drop_connections(gw);
            format!("dropped {gw}'s connections")
        }
        ("stall", gw) => {
            connector.stall(gw, true);
            format!("stalled {gw}")
        }
        ("unstall", gw) => {
            connector.stall(gw, false);
            format!("resumed {gw}")
        }
        ("push", gw) => match serde_json::from_str::<Value>(words.next().unwrap_or("")) {
            Ok(event @ Value::Object(_)) => {
                format!("push to {gw}: {:?}", connector.push_inbound(gw, event))
            }
            _ => "push: expected `push GW {\"text\": …}` with a JSON object".into(),
        },
        (verb, _) => format!("unknown command {verb:?} (try `help`)"),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::{dialable_url, listen_warning, parse_secrets, unknown_gateway_warning};

    #[test]
    fn a_listen_address_other_hosts_can_reach_is_warned_about() {
        for addr in ["0.0.0.0:8765", "[::]:8765", "192.0.2.7:8765"] {
            let warning = listen_warning(addr.parse().unwrap()).expect(addr);
            assert!(
                warning.contains(addr) && warning.contains("loopback"),
                "{warning}"
            );
        }
        for addr in ["127.0.0.1:8765", "[::1]:8765", "127.0.0.2:0"] {
            assert_eq!(listen_warning(addr.parse().unwrap()), None, "{addr}");
        }
    }

    #[test]
    fn the_printed_url_is_dialable_from_this_host() {
        assert_eq!(
            dialable_url("0.0.0.0:8765".parse().unwrap()),
            "ws://127.0.0.1:8765"
        );
        assert_eq!(dialable_url("[::]:80".parse().unwrap()), "ws://[::1]:80");
        assert_eq!(
            dialable_url("127.0.0.1:4100".parse().unwrap()),
            "ws://127.0.0.1:4100"
        );
        assert_eq!(
            dialable_url("192.0.2.7:1".parse().unwrap()),
            "ws://192.0.2.7:1"
        );
    }

    #[test]
    fn a_command_naming_an_unregistered_gateway_is_warned_about() {
        let registered: BTreeSet<String> = ["gw-1".to_owned()].into();
        let warning = unknown_gateway_warning(r#"push gw-2 {"text":"hi"}"#, &registered)
            .expect("gw-2 is unknown");
        assert!(
            warning.contains("\"gw-2\"") && warning.contains("gw-1"),
            "{warning}"
        );
        assert!(unknown_gateway_warning("revoke gw-3", &registered).is_some());
        for fine in [
            r#"push gw-1 {"text":"hi"}"#,
            "list",
            "help",
            "push",
            "",
            "frob gw-2",
        ] {
            assert_eq!(unknown_gateway_warning(fine, &registered), None, "{fine}");
        }
    }

    #[test]
    fn secrets_parse_as_gateway_secret_pairs() {
        let secrets = parse_secrets("gw-1=a, gw-2=b=c").unwrap();
        assert_eq!(secrets.len(), 2);
        assert_eq!(secrets[1].0, "gw-2");
        assert_eq!(secrets[1].1.expose(), "b=c");
        let err = parse_secrets("gw-1").unwrap_err();
        assert!(err.contains("GW=SECRET"), "{err}");
    }
}
