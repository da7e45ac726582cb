//! Tests of the real `baton` binary: embedded defaults, configuration commands, durability
//! across `kill -9`, and a clean SIGTERM shutdown.

mod agents;
mod bot;
mod common;
mod config;
mod durability;
mod nlu;
mod postgres;
mod secrets;
