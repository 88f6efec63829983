//! A step module's cost, as a project built with `flowbox step build` (any language): compiling
//! it, loading it from the disk cache, the first call after a load, warm calls. The same
//! figures as `code-step`, so a Python or JavaScript module can be set beside the code-step
//! runner of its language.

use std::path::PathBuf;

use flowbox::sandbox::{Capability, Grants, StepRequest};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The component (`target/NAME.wasm` of a step project).
    #[arg(long)]
    component: PathBuf,
    /// The input of every call.
    #[arg(long, default_value = r#"{"name": "Ada"}"#)]
    input: String,
    /// A capability to grant (repeat); default: log.
    #[arg(long = "grant", value_parser = parse_capability)]
    grants: Vec<Capability>,
    /// Warm calls (after 100 warm-up calls).
    #[arg(long, default_value_t = 2_000)]
    iters: usize,
    /// Fresh loads from the disk cache, for the first-call figures.
    #[arg(long, default_value_t = 20)]
    loads: usize,
}

fn parse_capability(s: &str) -> Result<Capability, String> {
    s.parse::<Capability>().map_err(|e| e.to_string())
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    let grants: Grants = if args.grants.is_empty() {
        [Capability::Log].into_iter().collect()
    } else {
        args.grants.into_iter().collect()
    };
    let cases = vec![("trivial", StepRequest::new(args.input))];
    crate::code_step::measure(&args.component, &grants, cases, args.iters, args.loads).await
}
