pub mod cmd;
mod engine;
pub use engine::*;
