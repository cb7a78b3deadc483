//! The agent side: commands that put an agent's calls behind a reviewer.
pub mod filing;
pub mod gate;
pub mod hook;
