//! Property tests of the parsers that face the outside: configuration TOML and request JSON.
//! Nothing may panic; bad input is an error that says what is wrong.

use baton_server::config::Config;
use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig { cases: 2_000, ..ProptestConfig::default() })]

    #[test]
    fn configuration_text_never_panics(text in "\\PC{0,300}") {
        let _ = Config::parse(&text, "fuzz.toml");
    }

    #[test]
    fn configuration_shaped_text_never_panics(text in "(\\[(server|limits|shop|nlu)\\]\n|[a-z_]{1,12} = (\"[a-z0-9.:]{0,12}\"|-?[0-9]{1,12}|true|\\[\\])\n){0,8}") {
        if let Err(e) = Config::parse(&text, "fuzz.toml") {
            prop_assert!(e.to_string().contains("fuzz.toml"));
        }
    }

    #[test]
    fn request_bodies_never_panic(body in proptest::collection::vec(any::<u8>(), 0..256)) {
        let _ = baton_server::extract::parse_json_text::<serde_json::Value>(&String::from_utf8_lossy(&body));
    }

    #[test]
    fn json_shaped_message_bodies_are_refused_with_a_field(text in "\\PC{0,40}", id in "\\PC{0,40}", n in any::<i64>()) {
        for body in [
            serde_json::json!({"text": text, "client_message_id": id}),
            serde_json::json!({"text": n, "client_message_id": id}),
            serde_json::json!({"text": text}),
            serde_json::json!({"text": text, "client_message_id": id, "extra": n}),
        ] {
            match baton_server::extract::parse_json_text::<baton_server::api::conversations::PostMessage>(&body.to_string()) {
                Ok(message) => {
                    prop_assert!(!message.text.as_str().trim().is_empty());
                    prop_assert!(message.text.as_str().chars().count() <= 4_000);
                }
                Err(e) => prop_assert!(e.status.is_client_error()),
            }
        }
    }
}
