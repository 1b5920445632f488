//! What an operator tells tracehouse about their LLM deployments: the quota each deployment
//! has (tokens and requests per minute, `--genai-quota`) and what tokens cost (built-in list
//! prices, overridden or extended by `--genai-prices`). Read once at start-up; the lookups are
//! pure, so the query layer can put cost and quota beside every usage figure.

use std::path::Path;

use serde::Deserialize;

/// The built-in price table.
const BUILT_IN_PRICES: &str = include_str!("prices.yaml");

#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    #[error("reading {path}: {source}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} is not a valid {what} file: {source}")]
    Parse {
        path: String,
        what: &'static str,
        #[source]
        source: yaml_serde::Error,
    },
    #[error("{path}: {message}")]
    Invalid { path: String, message: String },
}

/// The quota of one deployment: the target (endpoint host) and the model or deployment name
/// its calls ask for; `*` matches any model at the target.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Quota {
    pub target: String,
    #[serde(alias = "deployment")]
    pub model: String,
    #[serde(default)]
    pub tokens_per_minute: Option<u64>,
    #[serde(default)]
    pub requests_per_minute: Option<u64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct QuotaFile {
    quotas: Vec<Quota>,
}

/// What a million tokens of a model cost, in US dollars.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Price {
    pub model: String,
    pub input_per_million: f64,
    pub output_per_million: f64,
    #[serde(default)]
    pub cached_input_per_million: Option<f64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PriceFile {
    #[serde(default)]
    as_of: Option<String>,
    prices: Vec<Price>,
}

/// Quotas and prices.
#[derive(Debug, Clone, PartialEq)]
pub struct GenAiPolicy {
    pub quotas: Vec<Quota>,
    /// Entries of a `--genai-prices` file first, then the built-in ones.
    pub prices: Vec<Price>,
    /// When the prices were published, as their file says.
    pub prices_as_of: String,
}

impl Default for GenAiPolicy {
    /// No quotas, the built-in prices.
    fn default() -> Self {
        let built_in = parse_prices(BUILT_IN_PRICES, "the built-in price table")
            .expect("the built-in price table parses (a unit test checks it)");
        GenAiPolicy {
            quotas: Vec::new(),
            prices: built_in.prices,
            prices_as_of: built_in.as_of.unwrap_or_default(),
        }
    }
}

fn read(path: &Path) -> Result<String, PolicyError> {
    std::fs::read_to_string(path).map_err(|source| PolicyError::Read {
        path: path.display().to_string(),
        source,
    })
}

fn parse_prices(text: &str, path: &str) -> Result<PriceFile, PolicyError> {
    let file: PriceFile = yaml_serde::from_str(text).map_err(|source| PolicyError::Parse {
        path: path.to_owned(),
        what: "price",
        source,
    })?;
    for price in &file.prices {
        let rates = [
            price.input_per_million,
            price.output_per_million,
            price.cached_input_per_million.unwrap_or(0.0),
        ];
        if price.model.is_empty() || rates.iter().any(|r| !r.is_finite() || *r < 0.0) {
            return Err(PolicyError::Invalid {
                path: path.to_owned(),
                message: format!(
                    "the price of {:?} needs a model name and non-negative rates",
                    price.model
                ),
            });
        }
    }
    Ok(file)
}

fn parse_quotas(text: &str, path: &str) -> Result<Vec<Quota>, PolicyError> {
    let file: QuotaFile = yaml_serde::from_str(text).map_err(|source| PolicyError::Parse {
        path: path.to_owned(),
        what: "quota",
        source,
    })?;
    for quota in &file.quotas {
        let limits = [quota.tokens_per_minute, quota.requests_per_minute];
        if quota.target.is_empty()
            || quota.model.is_empty()
            || limits.iter().all(Option::is_none)
            || limits.contains(&Some(0))
        {
            return Err(PolicyError::Invalid {
                path: path.to_owned(),
                message: format!(
                    "the quota of {:?} at {:?} needs a target, a model (or `*`) and tokens_per_minute or requests_per_minute above 0",
                    quota.model, quota.target
                ),
            });
        }
    }
    Ok(file.quotas)
}

impl GenAiPolicy {
    /// The built-in prices, with a quota file and a price file when given.
    pub fn load(quotas: Option<&Path>, prices: Option<&Path>) -> Result<Self, PolicyError> {
        let mut policy = GenAiPolicy::default();
        if let Some(path) = quotas {
            policy.quotas = parse_quotas(&read(path)?, &path.display().to_string())?;
        }
        if let Some(path) = prices {
            let file = parse_prices(&read(path)?, &path.display().to_string())?;
            if let Some(as_of) = file.as_of {
                policy.prices_as_of = as_of;
            }
            policy.prices.splice(0..0, file.prices);
        }
        Ok(policy)
    }

    /// The quota of `model` at `target`: an entry for the model before one for `*`.
    pub fn quota(&self, target: &str, model: &str) -> Option<&Quota> {
        let at_target = |q: &&Quota| q.target.eq_ignore_ascii_case(target);
        self.quotas
            .iter()
            .filter(at_target)
            .find(|q| q.model.eq_ignore_ascii_case(model))
            .or_else(|| {
                self.quotas
                    .iter()
                    .filter(at_target)
                    .find(|q| q.model == "*")
            })
    }

    /// The price of `model`: the first entry naming it, else the longest entry it starts with
    /// followed by `-` (a dated version of a priced model).
    pub fn price(&self, model: &str) -> Option<&Price> {
        let model = model.to_ascii_lowercase();
        self.prices
            .iter()
            .find(|p| p.model.eq_ignore_ascii_case(&model))
            .or_else(|| {
                self.prices
                    .iter()
                    .filter(|p| {
                        let name = p.model.to_ascii_lowercase();
                        model
                            .strip_prefix(&name)
                            .is_some_and(|rest| rest.starts_with('-'))
                    })
                    // The first of the longest: a file's entries come before the built-in ones.
                    .rev()
                    .max_by_key(|p| p.model.len())
            })
    }

    /// What `input` and `output` tokens of `model` cost in US dollars; `None` when unpriced.
    pub fn cost_usd(&self, model: &str, input_tokens: u64, output_tokens: u64) -> Option<f64> {
        let price = self.price(model)?;
        Some(
            (input_tokens as f64 * price.input_per_million
                + output_tokens as f64 * price.output_per_million)
                / 1e6,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_built_in_prices_parse_and_price_dated_versions() {
        let policy = GenAiPolicy::default();
        assert_eq!(policy.prices_as_of, "2025-06");
        assert_eq!(
            policy.price("gpt-4o-2024-08-06").map(|p| p.model.as_str()),
            Some("gpt-4o")
        );
        assert_eq!(
            policy.price("gpt-4o-mini").map(|p| p.model.as_str()),
            Some("gpt-4o-mini")
        );
        assert_eq!(
            policy
                .price("gpt-4o-mini-2024-07-18")
                .map(|p| p.model.as_str()),
            Some("gpt-4o-mini")
        );
        assert_eq!(
            policy.price("gpt-4"),
            None,
            "no entry is a prefix followed by -"
        );
        let cost = policy
            .cost_usd("gpt-4o", 1_000_000, 100_000)
            .expect("priced");
        assert!((cost - 3.5).abs() < 1e-12, "{cost}");
        assert_eq!(policy.cost_usd("my-finetune", 10, 10), None);
    }

    #[test]
    fn files_override_prices_and_name_quotas() {
        let dir = tempfile::tempdir().expect("dir");
        let prices = dir.path().join("prices.yaml");
        std::fs::write(
            &prices,
            "as_of: '2026-11'\nprices:\n  - {model: gpt-4o, input_per_million: 5, output_per_million: 20}\n",
        )
        .expect("write");
        let quotas = dir.path().join("quotas.yaml");
        std::fs::write(
            &quotas,
            "quotas:\n  - {target: myaoai.openai.azure.com, deployment: gpt-4o, tokens_per_minute: 150000}\n  - {target: myaoai.openai.azure.com, model: '*', requests_per_minute: 60}\n",
        )
        .expect("write");
        let policy = GenAiPolicy::load(Some(&quotas), Some(&prices)).expect("loads");
        assert_eq!(policy.prices_as_of, "2026-11");
        assert_eq!(policy.cost_usd("gpt-4o", 1_000_000, 0), Some(5.0));
        assert_eq!(
            policy.cost_usd("gpt-4o-2024-08-06", 1_000_000, 0),
            Some(5.0),
            "a dated version takes the file's price too"
        );
        assert_eq!(
            policy.cost_usd("gpt-4o-mini", 1_000_000, 0),
            Some(0.15),
            "built-in kept"
        );
        let quota = policy
            .quota("MyAOAI.openai.azure.com", "gpt-4o")
            .expect("quota");
        assert_eq!(quota.tokens_per_minute, Some(150_000));
        let any = policy
            .quota("myaoai.openai.azure.com", "gpt-4.1")
            .expect("the * entry");
        assert_eq!(any.requests_per_minute, Some(60));
        assert_eq!(policy.quota("other", "gpt-4o"), None);
    }

    #[test]
    fn bad_files_are_refused_naming_the_file_and_the_entry() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("q.yaml");
        for (text, expected) in [
            ("quotas:\n  - {target: t, model: m}\n", "needs a target"),
            (
                "quotas:\n  - {target: t, model: m, tokens_per_minute: 0}\n",
                "above 0",
            ),
            (
                "quotas:\n  - {target: t, model: m, tpm: 5}\n",
                "not a valid quota file",
            ),
            ("quotas: [", "not a valid quota file"),
        ] {
            std::fs::write(&path, text).expect("write");
            let error = GenAiPolicy::load(Some(&path), None)
                .expect_err(text)
                .to_string();
            assert!(
                error.contains(expected) && error.contains("q.yaml"),
                "{error}"
            );
        }
        std::fs::write(
            &path,
            "prices:\n  - {model: x, input_per_million: -1, output_per_million: 1}\n",
        )
        .expect("write");
        let error = GenAiPolicy::load(None, Some(&path))
            .expect_err("negative")
            .to_string();
        assert!(error.contains("non-negative"), "{error}");
        let missing = GenAiPolicy::load(Some(&dir.path().join("none.yaml")), None);
        assert!(matches!(missing, Err(PolicyError::Read { .. })));
    }
}
