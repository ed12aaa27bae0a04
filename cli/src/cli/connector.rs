//! `relay-link connector`: the loopback test connector on the command
//! line, scripted from standard input, for testing a gateway by hand.

use std::net::SocketAddr;

use clap::Args;
use relay_link::testing::{Connector, ConnectorOptions};
use relay_link::token::Secret;
use serde_json::Value;
use smol::io::AsyncBufReadExt;

use super::{EXIT_OK, EXIT_USAGE};

/// Gateways and their secrets: `GW=SECRET,GW2=SECRET2`.
pub(crate) const SECRETS_ENV: &str = "RELAY_LINK_CONNECTOR_SECRETS";

/// `relay-link connector` options.
#[derive(Debug, Args)]
pub(crate) struct ConnectorArgs {
    /// Address to listen on (loopback), e.g. 127.0.0.1:8765.
    #[arg(long, default_value = "127.0.0.1:8765")]
    listen: SocketAddr,
    /// Accept upgrades without an Authorization header.
    #[arg(long)]
    allow_anonymous: bool,
}

const HELP: &str = "commands:
  revoke GW            4401 unauthorized now and on every later dial
  reinstate GW         undo revoke
  expire GW            4401 expired (open connection now, else next dial)
  drop GW              drop the TCP connection without a close frame
  stall GW / unstall GW  stop / resume reading and answering
  push GW <json>       deliver an inbound event (buffered if offline/idle)
  list                 gateways seen, open connections, buffered deliveries
  help                 this text";

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
    smol::block_on(async {
        let connector = match Connector::start_on(args.listen, ConnectorOptions::default()).await {
            Ok(connector) => connector,
            Err(e) => {
                eprintln!("relay-link: listen {}: {e}", args.listen);
                return EXIT_USAGE;
            }
        };
        connector.allow_anonymous(args.allow_anonymous);
        for (gw, secret) in secrets {
            println!("gateway {gw} registered");
            connector.add_gateway(&gw, secret);
        }
        println!(
            "connector listening on {} (gateways dial {}/relay)",
            args.listen,
            connector.url()
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
            println!("{}", command(&connector, line.trim()));
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
    use super::parse_secrets;

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
