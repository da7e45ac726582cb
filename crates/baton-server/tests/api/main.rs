//! Integration tests of Baton's public API: a real server on a loopback port, a temporary
//! SQLite database per test, real HTTP and WebSocket clients.

mod access;
mod agents;
mod bad_input;
mod bot;
mod common;
mod conversations;
mod handoff;
mod instances;
mod limits;
mod openapi;
mod outage;
mod routing;
mod sessions;
mod websocket;
