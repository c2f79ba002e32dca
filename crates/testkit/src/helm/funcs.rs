//! The template functions of Go, sprig and Helm that charts here use (besides `include`, which
//! needs the engine). Arguments come in template order, a piped value last.

use serde_json::Value;

use super::exec::{printed, truthy};

fn string(value: &Value) -> String {
    printed(value)
}

fn int(value: &Value, function: &str) -> Result<i64, String> {
    match value {
        Value::Number(n) => n
            .as_i64()
            .ok_or_else(|| format!("{function}: {n} is not an integer")),
        Value::String(s) => s
            .parse()
            .map_err(|_| format!("{function}: {s:?} is not an integer")),
        other => Err(format!("{function}: {other} is not an integer")),
    }
}

fn arity(name: &str, args: &[Value], count: usize) -> Result<(), String> {
    if args.len() == count {
        Ok(())
    } else {
        Err(format!(
            "{name} takes {count} argument(s), got {}",
            args.len()
        ))
    }
}

pub fn call(name: &str, args: Vec<Value>) -> Result<Value, String> {
    let value = match name {
        "toYaml" => {
            arity(name, &args, 1)?;
            let yaml = serde_yaml::to_string(&args[0]).map_err(|e| format!("toYaml: {e}"))?;
            Value::String(yaml.trim_end_matches('\n').to_string())
        }
        "indent" | "nindent" => {
            arity(name, &args, 2)?;
            let pad = " ".repeat(int(&args[0], name)?.max(0) as usize);
            let text = format!(
                "{pad}{}",
                string(&args[1]).replace('\n', &format!("\n{pad}"))
            );
            Value::String(if name == "nindent" {
                format!("\n{text}")
            } else {
                text
            })
        }
        "default" => {
            arity(name, &args, 2)?;
            if truthy(&args[1]) {
                args[1].clone()
            } else {
                args[0].clone()
            }
        }
        "empty" => {
            arity(name, &args, 1)?;
            Value::Bool(!truthy(&args[0]))
        }
        "required" => {
            arity(name, &args, 2)?;
            if !truthy(&args[1]) {
                return Err(string(&args[0]));
            }
            args[1].clone()
        }
        "fail" => return Err(args.first().map(string).unwrap_or_default()),
        "quote" => {
            let quoted: Vec<String> = args
                .iter()
                .filter(|a| !a.is_null())
                .map(|a| format!("{:?}", string(a)))
                .collect();
            Value::String(quoted.join(" "))
        }
        "squote" => Value::String(
            args.iter()
                .filter(|a| !a.is_null())
                .map(|a| format!("'{}'", string(a)))
                .collect::<Vec<_>>()
                .join(" "),
        ),
        "trunc" => {
            arity(name, &args, 2)?;
            let n = int(&args[0], name)?;
            let chars: Vec<char> = string(&args[1]).chars().collect();
            let kept: String = if n >= 0 {
                chars.iter().take(n as usize).collect()
            } else {
                chars[chars.len().saturating_sub(n.unsigned_abs() as usize)..]
                    .iter()
                    .collect()
            };
            Value::String(kept)
        }
        "trimSuffix" | "trimPrefix" => {
            arity(name, &args, 2)?;
            let (affix, text) = (string(&args[0]), string(&args[1]));
            let trimmed = if name == "trimSuffix" {
                text.strip_suffix(affix.as_str())
            } else {
                text.strip_prefix(affix.as_str())
            };
            Value::String(trimmed.unwrap_or(&text).to_string())
        }
        "trim" => {
            arity(name, &args, 1)?;
            Value::String(string(&args[0]).trim().to_string())
        }
        "upper" | "lower" => {
            arity(name, &args, 1)?;
            let text = string(&args[0]);
            Value::String(if name == "upper" {
                text.to_uppercase()
            } else {
                text.to_lowercase()
            })
        }
        "replace" => {
            arity(name, &args, 3)?;
            Value::String(string(&args[2]).replace(&string(&args[0]), &string(&args[1])))
        }
        "contains" => {
            arity(name, &args, 2)?;
            Value::Bool(string(&args[1]).contains(&string(&args[0])))
        }
        "hasKey" => {
            arity(name, &args, 2)?;
            Value::Bool(args[0].get(string(&args[1])).is_some())
        }
        "join" => {
            arity(name, &args, 2)?;
            let items: Vec<String> = match &args[1] {
                Value::Array(items) => items.iter().map(string).collect(),
                Value::Null => Vec::new(),
                other => vec![string(other)],
            };
            Value::String(items.join(&string(&args[0])))
        }
        "toString" => {
            arity(name, &args, 1)?;
            Value::String(string(&args[0]))
        }
        "printf" => {
            let Some((format, rest)) = args.split_first() else {
                return Err("printf needs a format".into());
            };
            Value::String(printf(&string(format), rest)?)
        }
        "list" => Value::Array(args),
        "not" => {
            arity(name, &args, 1)?;
            Value::Bool(!truthy(&args[0]))
        }
        "and" => args
            .iter()
            .find(|a| !truthy(a))
            .or(args.last())
            .cloned()
            .unwrap_or(Value::Null),
        "or" => args
            .iter()
            .find(|a| truthy(a))
            .or(args.last())
            .cloned()
            .unwrap_or(Value::Null),
        "toJson" => {
            arity(name, &args, 1)?;
            Value::String(serde_json::to_string(&args[0]).map_err(|e| format!("toJson: {e}"))?)
        }
        "fromYaml" => {
            arity(name, &args, 1)?;
            let yaml: serde_yaml::Value =
                serde_yaml::from_str(&string(&args[0])).map_err(|e| format!("fromYaml: {e}"))?;
            serde_json::to_value(yaml).map_err(|e| format!("fromYaml: {e}"))?
        }
        "dict" => {
            if !args.len().is_multiple_of(2) {
                return Err("dict takes key and value pairs".into());
            }
            let mut map = serde_json::Map::new();
            for pair in args.chunks(2) {
                map.insert(string(&pair[0]), pair[1].clone());
            }
            Value::Object(map)
        }
        "mergeOverwrite" => {
            let Some((first, others)) = args.split_first() else {
                return Err("mergeOverwrite needs maps".into());
            };
            let mut merged = first.clone();
            for other in others {
                merge_overwrite(&mut merged, other);
            }
            merged
        }
        "has" => {
            arity(name, &args, 2)?;
            Value::Bool(
                args[1]
                    .as_array()
                    .is_some_and(|list| list.contains(&args[0])),
            )
        }
        "int" => {
            arity(name, &args, 1)?;
            Value::from(match &args[0] {
                Value::Null => 0,
                Value::Number(n) => n.as_f64().map_or(0, |f| f as i64),
                other => int(other, name)?,
            })
        }
        "lt" | "le" | "gt" | "ge" => {
            arity(name, &args, 2)?;
            let (a, b) = (number(&args[0], name)?, number(&args[1], name)?);
            Value::Bool(match name {
                "lt" => a < b,
                "le" => a <= b,
                "gt" => a > b,
                _ => a >= b,
            })
        }
        "kindIs" => {
            arity(name, &args, 2)?;
            let kind = match &args[1] {
                Value::Null => "invalid",
                Value::Bool(_) => "bool",
                Value::Number(n) if n.is_f64() => "float64",
                Value::Number(_) => "int64",
                Value::String(_) => "string",
                Value::Array(_) => "slice",
                Value::Object(_) => "map",
            };
            Value::Bool(string(&args[0]) == kind)
        }
        "semverCompare" => {
            arity(name, &args, 2)?;
            Value::Bool(semver_compare(&string(&args[0]), &string(&args[1]))?)
        }
        "eq" | "ne" => {
            let Some((first, others)) = args.split_first() else {
                return Err(format!("{name} needs arguments"));
            };
            let equal = others.iter().any(|o| o == first);
            Value::Bool(if name == "eq" { equal } else { !equal })
        }
        other => {
            return Err(format!(
                "function {other:?} is not supported by this renderer: add it to crates/testkit/src/helm/funcs.rs or write the chart without it"
            ));
        }
    };
    Ok(value)
}

fn number(value: &Value, function: &str) -> Result<f64, String> {
    value
        .as_f64()
        .ok_or_else(|| format!("{function}: {value} is not a number"))
}

/// sprig's `mergeOverwrite`: maps merge key by key, anything else is replaced.
fn merge_overwrite(base: &mut Value, other: &Value) {
    match (base, other) {
        (Value::Object(base), Value::Object(other)) => {
            for (key, value) in other {
                match base.get_mut(key) {
                    Some(existing) => merge_overwrite(existing, value),
                    None => {
                        base.insert(key.clone(), value.clone());
                    }
                }
            }
        }
        (base, other) => *base = other.clone(),
    }
}

/// sprig's `semverCompare` for one constraint of the form charts use: `>=1.30-0`, `<1.25`, ...
fn semver_compare(constraint: &str, version: &str) -> Result<bool, String> {
    let constraint = constraint.trim();
    let split = constraint
        .find(|c: char| c.is_ascii_digit())
        .ok_or_else(|| format!("semverCompare: cannot read the constraint {constraint:?}"))?;
    let (operator, wanted) = constraint.split_at(split);
    let parts = |v: &str| -> Result<(u64, u64, u64), String> {
        let core = v.trim().trim_start_matches('v');
        let core = core.split(['-', '+']).next().unwrap_or_default();
        let mut numbers = core.split('.').map(|n| n.parse::<u64>());
        let mut next = || {
            numbers
                .next()
                .unwrap_or(Ok(0))
                .map_err(|_| format!("semverCompare: cannot read {v:?}"))
        };
        Ok((next()?, next()?, next()?))
    };
    let (have, want) = (parts(version)?, parts(wanted)?);
    Ok(match operator.trim() {
        ">=" => have >= want,
        ">" => have > want,
        "<=" => have <= want,
        "<" => have < want,
        "=" | "" => have == want,
        "!=" => have != want,
        other => {
            return Err(format!(
                "semverCompare: operator {other:?} is not supported"
            ));
        }
    })
}

/// Go's `fmt.Sprintf` for the verbs charts use: `%s`, `%v`, `%d`, `%q` and `%%`.
fn printf(format: &str, args: &[Value]) -> Result<String, String> {
    let mut out = String::new();
    let mut args = args.iter();
    let mut chars = format.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let verb = chars.next().ok_or("printf: format ends in %")?;
        if verb == '%' {
            out.push('%');
            continue;
        }
        let arg = args
            .next()
            .ok_or_else(|| format!("printf: %{verb} has no argument"))?;
        match verb {
            's' | 'v' | 'd' => out.push_str(&string(arg)),
            'q' => out.push_str(&format!("{:?}", string(arg))),
            other => return Err(format!("printf: %{other} is not supported")),
        }
    }
    Ok(out)
}
