//! The interactive session.

use crate::cli::Global;
use crate::error::{Error, Result};

/// Runs the REPL.
pub async fn run(_g: &Global) -> Result<u8> {
    Err(Error::usage("repl: under construction"))
}

#[cfg(test)]
mod tests {
    #[test]
    fn probe() {
        let rt = tokio::runtime::Runtime::new().unwrap();
        let s = crate::engine::Session::new(crate::project::Project::at("."), None, rt.handle().clone());
        let e = crate::engine::build(&s);
        for sig in e.gen_fn_signatures(false) { println!("SIG {sig}"); }
        let n = e.gen_fn_signatures(true).len();
        println!("with packages: {n}");
        for sig in e.gen_fn_signatures(true).iter().filter(|s| s.starts_with("p") || s.starts_with("get")) { println!("PKG {sig}"); }
        for d in crate::docs::collect(&e).unwrap() { println!("DOC {} | {}", d.name, d.signature); }
    }
}
