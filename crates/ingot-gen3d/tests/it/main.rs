//! Integration tests for ingot-gen3d: parse every output back, run the Khronos
//! glTF validator, check determinism, STL layout, watertightness and errors.

// Test helpers outside `#[test]` functions may fail loudly: that is the point.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
mod determinism;
mod errors;
mod gltf_readback;
mod image_relief;
mod stl;
mod validator;
