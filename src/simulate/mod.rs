//! The simulated fabric: one `SwitchActor` per switch, each drawing samples from its own
//! `SwitchModel` on its own timer.

pub mod model;
mod switch;

pub use model::SwitchModel;
pub use switch::{SwitchActor, Writers, phase};
