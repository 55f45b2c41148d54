use super::*;
use crate::config::{ModelSettings, RouteSettings};

fn model(name: &str, input: u64, output: u64, capabilities: &[Capability]) -> ModelSettings {
    ModelSettings {
        name: name.into(),
        input_price: input,
        output_price: output,
        context: 8192,
        capabilities: capabilities.to_vec(),
    }
}

fn provider(name: &str, key_env: &str, models: Vec<ModelSettings>) -> ProviderSettings {
    ProviderSettings {
        name: name.into(),
        kind: ProviderKind::Openai,
        base_url: "http://127.0.0.1:9/v1".into(),
        api_key_env: key_env.into(),
        first_byte_timeout_secs: 1,
        total_timeout_secs: 1,
        models,
    }
}

/// Stands in for the embedded provider; resolution never calls it.
fn local() -> Option<Arc<dyn Provider>> {
    Some(Arc::new(OpenAi::new(HttpConfig::new(
        LOCAL,
        "http://127.0.0.1:9",
    ))))
}

fn settings() -> AiSettings {
    AiSettings {
        providers: vec![
            provider(
                "openai",
                "OPENAI_KEY",
                vec![
                    model("gpt-big", 2_500_000, 10_000_000, &[Capability::Chat]),
                    model("gpt-small", 150_000, 600_000, &[Capability::Chat]),
                    model("embed-3", 20_000, 0, &[Capability::Embeddings]),
                ],
            ),
            provider(
                "deepseek",
                "DEEPSEEK_KEY",
                vec![model(
                    "deepseek-chat",
                    270_000,
                    1_100_000,
                    &[Capability::Chat],
                )],
            ),
            // Self-hosted, no key: the same open model on another host.
            provider(
                "vllm",
                "",
                vec![model("gpt-small", 0, 0, &[Capability::Chat])],
            ),
        ],
        ..AiSettings::default()
    }
}

fn keys(name: &str) -> Option<String> {
    matches!(name, "OPENAI_KEY" | "DEEPSEEK_KEY").then(|| "sk-test".to_owned())
}

fn ids(candidates: &[Candidate]) -> Vec<String> {
    candidates
        .iter()
        .map(|c| format!("{}/{}", c.provider, c.model))
        .collect()
}

#[test]
fn preferences_order_by_price_and_end_with_the_local_model() {
    let gateway = Gateway::build(&settings(), keys, local()).unwrap();
    let quality = gateway.resolve("quality", Capability::Chat).unwrap();
    assert_eq!(
        ids(&quality),
        [
            "openai/gpt-big",
            "deepseek/deepseek-chat",
            "openai/gpt-small",
            "vllm/gpt-small",
            "local/smollm2-135m-instruct"
        ]
    );
    let cost = gateway.resolve("cost", Capability::Chat).unwrap();
    assert_eq!(ids(&cost)[0], "vllm/gpt-small");
    assert_eq!(ids(&cost).last().unwrap(), "local/smollm2-135m-instruct");
    let embeddings = gateway.resolve("cost", Capability::Embeddings).unwrap();
    assert_eq!(
        ids(&embeddings),
        ["openai/embed-3", "local/all-minilm-l6-v2"]
    );
}

#[test]
fn without_keys_everything_routes_to_the_local_model() {
    let gateway = Gateway::build(&settings(), |_| None, local()).unwrap();
    assert_eq!(
        gateway
            .disabled()
            .iter()
            .map(|d| d.name.as_str())
            .collect::<Vec<_>>(),
        ["openai", "deepseek"]
    );
    for preference in Preference::ALL {
        let chat = gateway
            .resolve(preference.as_str(), Capability::Chat)
            .unwrap();
        assert_eq!(
            ids(&chat),
            ["vllm/gpt-small", "local/smollm2-135m-instruct"],
            "{preference:?}"
        );
    }
    let bare = AiSettings::default();
    let gateway = Gateway::build(&bare, |_| None, local()).unwrap();
    assert_eq!(
        ids(&gateway.resolve("speed", Capability::Chat).unwrap()),
        ["local/smollm2-135m-instruct"]
    );
}

#[test]
fn names_resolve_to_routes_exact_models_or_every_host_of_a_model() {
    let mut s = settings();
    s.routes.push(RouteSettings {
        name: "house".into(),
        candidates: vec!["deepseek/deepseek-chat".into(), "openai/gpt-small".into()],
    });
    let gateway = Gateway::build(&s, keys, local()).unwrap();
    assert_eq!(
        ids(&gateway.resolve("house", Capability::Chat).unwrap()),
        [
            "deepseek/deepseek-chat",
            "openai/gpt-small",
            "local/smollm2-135m-instruct"
        ]
    );
    assert_eq!(
        ids(&gateway.resolve("openai/gpt-big", Capability::Chat).unwrap()),
        ["openai/gpt-big"],
        "an exact model has no fallback"
    );
    assert_eq!(
        ids(&gateway.resolve("gpt-small", Capability::Chat).unwrap()),
        ["openai/gpt-small", "vllm/gpt-small"]
    );
    assert_eq!(
        gateway.resolve("gpt-7", Capability::Chat),
        Err(ResolveError::UnknownModel("gpt-7".into()))
    );
    assert!(matches!(
        gateway.resolve("openai/embed-3", Capability::Chat),
        Err(ResolveError::Incapable { .. })
    ));
    let names = gateway.public_names(Capability::Chat);
    assert_eq!(&names[..4], ["quality", "speed", "cost", "house"]);
    assert!(names.contains(&"local/smollm2-135m-instruct".to_owned()));
    assert!(!names.contains(&"openai/embed-3".to_owned()));
}

#[test]
fn bad_configuration_is_refused_with_the_culprit_named() {
    let mut s = settings();
    s.providers.push(provider(
        "openai",
        "",
        vec![model("x", 0, 0, &[Capability::Chat])],
    ));
    assert_eq!(
        Gateway::build(&s, keys, None).err(),
        Some(ConfigError::DuplicateProvider("openai".into()))
    );
    let mut s = settings();
    s.providers[2].base_url = "ftp://example.org".into();
    assert!(matches!(
        Gateway::build(&s, keys, None).err(),
        Some(ConfigError::BadBaseUrl { .. })
    ));
    let mut s = settings();
    let mut anthropic = provider(
        "claude",
        "",
        vec![model("c", 0, 0, &[Capability::Embeddings])],
    );
    anthropic.kind = ProviderKind::Anthropic;
    s.providers.push(anthropic);
    assert!(matches!(
        Gateway::build(&s, keys, None).err(),
        Some(ConfigError::NotOffered {
            capability: Capability::Embeddings,
            ..
        })
    ));
    let mut s = settings();
    let mut gemini = provider("gem", "", vec![model("g", 0, 0, &[Capability::Moderation])]);
    gemini.kind = ProviderKind::Gemini;
    s.providers.push(gemini);
    assert!(matches!(
        Gateway::build(&s, keys, None).err(),
        Some(ConfigError::NotOffered {
            capability: Capability::Moderation,
            ..
        })
    ));
    let mut s = settings();
    s.routes.push(RouteSettings {
        name: "typo".into(),
        candidates: vec!["openai/gpt-bigg".into()],
    });
    assert!(matches!(
        Gateway::build(&s, keys, None).err(),
        Some(ConfigError::UnknownCandidate { .. })
    ));
    let mut s = settings();
    s.providers.push(provider(
        LOCAL,
        "",
        vec![model("x", 0, 0, &[Capability::Chat])],
    ));
    assert!(
        Gateway::build(&s, keys, None).is_err(),
        "`local` is reserved"
    );
}

#[test]
fn prices_come_from_the_catalogue() {
    let gateway = Gateway::build(&settings(), keys, local()).unwrap();
    let price = gateway.price(&Candidate::new("openai", "gpt-small"));
    assert_eq!(price.input_micros_per_mtok, 150_000);
    assert_eq!(
        gateway.price(&Candidate::new(LOCAL, LOCAL_CHAT_MODEL)),
        Price::default()
    );
    assert_eq!(
        gateway.context(&Candidate::new(LOCAL, LOCAL_CHAT_MODEL)),
        Some(2048)
    );
}

#[test]
fn the_settings_parse_from_toml() {
    let toml = r#"
        [local]
        enabled = false

        [[providers]]
        name = "anthropic"
        kind = "anthropic"
        base_url = "https://api.anthropic.com"
        api_key_env = "ANTHROPIC_API_KEY"
        [[providers.models]]
        name = "claude-sonnet-4-5"
        input_price = 3000000
        output_price = 15000000
        context = 200000
        capabilities = ["chat"]

        [[routes]]
        name = "quality"
        candidates = ["anthropic/claude-sonnet-4-5"]
    "#;
    let settings: AiSettings = toml::from_str(toml).unwrap();
    assert!(!settings.local.enabled);
    assert_eq!(settings.providers[0].kind, ProviderKind::Anthropic);
    assert_eq!(settings.providers[0].first_byte_timeout_secs, 20);
    assert_eq!(settings.routes[0].candidates.len(), 1);
}
