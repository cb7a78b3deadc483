mod commands;
pub mod table;
pub use commands::*;
