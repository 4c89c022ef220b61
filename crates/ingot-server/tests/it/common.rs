pub use ingot_test_support::{
    bare_config, chat_model_path, get_json, get_text, have_models, http, model_dir, post_json,
    spawn, sse_events, sse_usage,
};
