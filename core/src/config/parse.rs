//! Parsers of setting values: a TOML value from a file, or a string from an environment
//! variable or an override (`true`, `5000`, `k=v,k2=v2`, ...). Each returns what the key
//! accepts as its error, for [`ConfigError::InvalidValue`](crate::ConfigError::InvalidValue).

use std::collections::BTreeMap;

/// A raw value before parsing: from TOML, or a string from the environment or an override.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Raw<'a> {
    Toml(&'a toml::Value),
    Str(&'a str),
}

impl Raw<'_> {
    pub(crate) fn shown(&self, secret: bool) -> String {
        if secret {
            return "<hidden>".to_owned();
        }
        // A URL's password and secret query values are never shown.
        crate::redaction::display_url(&match self {
            Raw::Toml(v) => v.to_string(),
            Raw::Str(s) => format!("{s:?}"),
        })
    }
}

pub(crate) fn text(v: Raw<'_>) -> Result<String, String> {
    match v {
        Raw::Toml(toml::Value::String(s)) => Ok(s.trim().to_ascii_lowercase()),
        Raw::Str(s) => Ok(s.trim().to_ascii_lowercase()),
        Raw::Toml(_) => Err("a string".to_owned()),
    }
}

pub(crate) fn non_empty(v: Raw<'_>) -> Result<String, String> {
    let s = match v {
        Raw::Toml(toml::Value::String(s)) => s.trim(),
        Raw::Str(s) => s.trim(),
        Raw::Toml(_) => return Err("a non-empty string".to_owned()),
    };
    if s.is_empty() {
        return Err("a non-empty string".to_owned());
    }
    Ok(s.to_owned())
}

pub(crate) fn boolean(v: Raw<'_>) -> Result<bool, String> {
    match v {
        Raw::Toml(toml::Value::Boolean(b)) => Ok(*b),
        Raw::Str(s) => match s.trim().to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" | "on" => Ok(true),
            "false" | "0" | "no" | "off" => Ok(false),
            _ => Err("true or false".to_owned()),
        },
        Raw::Toml(_) => Err("true or false".to_owned()),
    }
}

pub(crate) fn integer(v: Raw<'_>, min: u64, max: u64) -> Result<u64, String> {
    let allowed = || format!("an integer from {min} to {max}");
    let n: i64 = match v {
        Raw::Toml(toml::Value::Integer(i)) => *i,
        Raw::Str(s) => s.trim().parse().map_err(|_| allowed())?,
        Raw::Toml(_) => return Err(allowed()),
    };
    u64::try_from(n)
        .ok()
        .filter(|n| (min..=max).contains(n))
        .ok_or_else(allowed)
}

pub(crate) fn float(v: Raw<'_>) -> Result<f64, String> {
    let allowed = || "a number from 0.0 to 1.0".to_owned();
    match v {
        Raw::Toml(toml::Value::Float(f)) => Ok(*f),
        Raw::Toml(toml::Value::Integer(i)) => Ok(*i as f64),
        Raw::Str(s) => s.trim().parse::<f64>().map_err(|_| allowed()),
        Raw::Toml(_) => Err(allowed()),
    }
    .and_then(|f| if f.is_finite() { Ok(f) } else { Err(allowed()) })
}

pub(crate) fn filter(v: Raw<'_>) -> Result<String, String> {
    filter_with(v, crate::level::normalize_filter)
}

/// [`filter`] for `RUST_LOG`'s own syntax (bare targets allowed).
pub(crate) fn rust_log_filter(v: Raw<'_>) -> Result<String, String> {
    filter_with(v, crate::level::normalize_rust_log)
}

fn filter_with(
    v: Raw<'_>,
    normalize: fn(&str) -> Result<String, String>,
) -> Result<String, String> {
    let s = match v {
        Raw::Toml(toml::Value::String(s)) => s.trim().to_owned(),
        Raw::Str(s) => s.trim().to_owned(),
        Raw::Toml(_) => {
            return Err("a filter string such as `info` or `warn,my_crate=debug`".to_owned())
        }
    };
    let s = normalize(&s)?;
    tracing_subscriber::EnvFilter::builder()
        .parse(&s)
        .map_err(|e| format!("a filter such as `info` or `warn,my_crate=debug` ({e})"))?;
    Ok(s)
}

pub(crate) fn string_list(v: Raw<'_>) -> Result<Vec<String>, String> {
    let allowed = || "a list of strings (comma-separated in the variable)".to_owned();
    let items: Vec<String> = match v {
        Raw::Toml(toml::Value::Array(items)) => items
            .iter()
            .map(|i| i.as_str().map(str::to_owned).ok_or_else(allowed))
            .collect::<Result<_, _>>()?,
        Raw::Str(s) => s.split(',').map(str::to_owned).collect(),
        Raw::Toml(_) => return Err(allowed()),
    };
    Ok(items
        .into_iter()
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .collect())
}

/// `k=v,k2=v2` (values percent-decoded, as the OTel spec says) or a TOML table of strings.
pub(crate) fn key_values(v: Raw<'_>) -> Result<BTreeMap<String, String>, String> {
    let allowed = || "a table of strings, or `key=value` pairs separated by commas".to_owned();
    let mut out = BTreeMap::new();
    match v {
        Raw::Toml(toml::Value::Table(t)) => {
            for (k, v) in t {
                out.insert(k.clone(), v.as_str().ok_or_else(allowed)?.to_owned());
            }
        }
        Raw::Str(s) => {
            for pair in s.split(',').filter(|p| !p.trim().is_empty()) {
                let (k, v) = pair.split_once('=').ok_or_else(allowed)?;
                let k = k.trim();
                if k.is_empty() {
                    return Err(allowed());
                }
                out.insert(k.to_owned(), percent_decode(v.trim()));
            }
        }
        Raw::Toml(_) => return Err(allowed()),
    }
    Ok(out)
}

pub(crate) fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = |b: u8| (b as char).to_digit(16);
            if let (Some(hi), Some(lo)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                out.push((hi * 16 + lo) as u8);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_decoding_handles_escapes_and_stray_percent() {
        assert_eq!(percent_decode("Bearer%20abc"), "Bearer abc");
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%zz"), "%zz");
    }
}
