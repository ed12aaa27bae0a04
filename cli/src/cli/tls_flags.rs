//! `connect --ca-file` and `--tls-roots`: the trusted roots of `wss://`
//! dials ([`TlsOptions`]), and the errors about them in the flags' words.

use std::path::PathBuf;

use clap::{Args, ValueEnum};
use relay_link::shell::tls::{TlsOptions, TlsRoots};
use relay_link::shell::SpawnError;

/// The TLS flags of `connect`.
#[derive(Debug, Args)]
pub(crate) struct TlsArgs {
    /// A PEM file of extra trusted root certificates for wss:// (every
    /// CERTIFICATE block); repeatable. Checked before anything dials.
    #[arg(long = "ca-file", value_name = "PATH")]
    ca_files: Vec<PathBuf>,
    /// The trusted roots wss:// starts from: webpki (the bundled Mozilla
    /// roots), native (the operating system's store; SSL_CERT_FILE and
    /// SSL_CERT_DIR are honoured) or both.
    #[arg(long, value_enum, value_name = "ROOTS", default_value_t = RootsFlag::Webpki)]
    tls_roots: RootsFlag,
}

/// The values of `--tls-roots`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum RootsFlag {
    /// The bundled Mozilla roots.
    Webpki,
    /// The operating system's store.
    Native,
    /// Both.
    Both,
}

impl TlsArgs {
    /// The library's TLS options for these flags.
    pub(crate) fn options(&self) -> TlsOptions {
        let roots = match self.tls_roots {
            RootsFlag::Webpki => TlsRoots::WebPki,
            RootsFlag::Native => TlsRoots::Native,
            RootsFlag::Both => TlsRoots::Both,
        };
        self.ca_files
            .iter()
            .fold(TlsOptions::default().with_roots(roots), |options, path| {
                options.with_extra_root_file(path.clone())
            })
    }

    /// Why the link could not be created, naming the flag where one is
    /// to blame (the library names its option: `tls.extra_root_files`,
    /// `tls.roots`).
    pub(crate) fn describe(&self, error: &SpawnError) -> String {
        match error {
            SpawnError::RootFile { path, problem, .. } => {
                format!("--ca-file {}: {problem}", path.display())
            }
            SpawnError::Tls(message) => match message.strip_prefix("tls.roots: ") {
                Some(rest) => format!(
                    "--tls-roots {}: {rest}",
                    self.tls_roots
                        .to_possible_value()
                        .map_or_else(String::new, |value| value.get_name().to_owned())
                ),
                None => error.to_string(),
            },
            _ => error.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;
    use relay_link::shell::tls::TlsRoots;
    use relay_link::shell::SpawnError;

    use super::TlsArgs;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        tls: TlsArgs,
    }

    fn parse(args: &[&str]) -> TlsArgs {
        let mut argv = vec!["cli"];
        argv.extend_from_slice(args);
        Cli::try_parse_from(argv).expect("the flags parse").tls
    }

    #[test]
    fn the_flags_become_the_library_s_tls_options_in_order() {
        let options = parse(&[
            "--ca-file",
            "a.pem",
            "--tls-roots",
            "both",
            "--ca-file",
            "b.pem",
        ])
        .options();
        assert_eq!(options.roots, TlsRoots::Both);
        assert_eq!(
            options.extra_root_files,
            [std::path::PathBuf::from("a.pem"), "b.pem".into()]
        );
        assert_eq!(parse(&[]).options().roots, TlsRoots::WebPki);
        assert_eq!(
            parse(&["--tls-roots", "native"]).options().roots,
            TlsRoots::Native
        );
    }

    #[test]
    fn a_native_store_that_cannot_be_loaded_names_the_flag_and_its_value() {
        let error = SpawnError::Tls(
            "tls.roots: no root certificate could be loaded from the operating system".into(),
        );
        assert_eq!(
            parse(&["--tls-roots", "native"]).describe(&error),
            "--tls-roots native: no root certificate could be loaded from the operating system"
        );
        let other = SpawnError::Tls("something else".into());
        assert_eq!(parse(&[]).describe(&other), "tls: something else");
    }
}
