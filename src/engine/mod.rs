//! The engine decides what happens to a port for each `ApEvent`: it finds the AP's switch
//! port (lookup), asks the guards, plans the `PortChange`s, hands them to the backend and
//! records the `Decision`.

pub mod guards;
pub mod lookup;
