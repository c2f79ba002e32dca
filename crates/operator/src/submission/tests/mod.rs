//! Tests of the whole submission: golden objects for the examples, each group of spec fields,
//! names and determinism.

mod fields;
mod fixtures;
mod golden;
mod plan;
mod pods;
