//! One module per route.

pub mod account;
pub mod admin;
pub mod api_reference;
pub mod earning;
pub mod email;
pub mod home;
pub mod network;
pub mod nodes;
pub mod not_found;
pub mod notifications;
pub mod playground;
pub mod rewards;
pub mod rounds;
pub mod sign_in;
pub mod sign_up;
pub mod status;
pub mod task;
pub mod telegram;
