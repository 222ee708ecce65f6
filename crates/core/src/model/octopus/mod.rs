//! The octopus family (Du 2019, thesis ch. 7): a chain of d strict saddles that gradient descent
//! escapes in exponential time. `pieces.rs` holds the function (shared with the exact engine);
//! the model and the family follow.

pub mod pieces;
