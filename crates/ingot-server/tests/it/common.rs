pub use ingot_test_support::{bare_config, have_models, http, model_dir, spawn, sse_usage};
