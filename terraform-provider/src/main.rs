//! `terraform-provider-artifactapi`: the Terraform provider of artifactapi, a client of its
//! management API (`/api/v2/remotes`, `/virtuals`, `/locals`, `/tokens`), on the `tf-provider`
//! crate (plugin protocol 6).
//!
//! Terraform starts this binary and talks gRPC to it; the binary prints its handshake line and
//! serves until Terraform is done. Run by hand it says so and exits.

mod api;
mod checks;
mod kinds;
mod plan;
mod provider;
mod repo;
mod token;
mod values;

fn main() -> std::process::ExitCode {
    if std::env::var_os("PLUGIN_PROTOCOL_VERSIONS").is_none() {
        eprintln!(
            "terraform-provider-artifactapi {}: a Terraform plugin, started by terraform itself \
             (install it from a registry or with dev_overrides, see the README)",
            env!("CARGO_PKG_VERSION")
        );
        return std::process::ExitCode::from(1);
    }
    // tf-provider appends a backtrace to every diagnostic when backtraces are enabled: the
    // messages are for people, so they are off whatever the environment says (set before any
    // thread exists).
    std::env::remove_var("RUST_BACKTRACE");
    std::env::remove_var("RUST_LIB_BACKTRACE");
    let runtime = match tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("terraform-provider-artifactapi: cannot start the runtime: {e}");
            return std::process::ExitCode::from(1);
        }
    };
    match runtime.block_on(tf_provider::serve("artifactapi", provider::ArtifactApi::default())) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("terraform-provider-artifactapi: {e}");
            std::process::ExitCode::from(1)
        }
    }
}
