pub use ingot_test_support::{
    bare_config, get_json, have_models, http, model_dir, spawn, sse_usage,
};
