//! Nothing here: each guest is an example (see Cargo.toml).
