//! Executing parsed templates over JSON data, with Go's truthiness and printing and the Helm and
//! sprig functions charts use (a function outside the list is an error naming it).

use std::collections::{BTreeMap, HashMap};

use serde_json::Value;

use super::parse::{Node, Operand, Pipeline};

/// Defined templates and the chart's files (`.Files.Get`).
pub struct Engine {
    pub defines: HashMap<String, Vec<Node>>,
    pub files: BTreeMap<String, String>,
}

/// Variables in scope, innermost last; `$` first.
type Scope = Vec<(String, Value)>;

/// Deep enough for any chart; deeper means an `include` that includes itself.
const MAX_DEPTH: usize = 100;

impl Engine {
    /// Renders `nodes` with `data` as both `.` and `$`.
    pub fn render(&self, nodes: &[Node], data: &Value, depth: usize) -> Result<String, String> {
        if depth > MAX_DEPTH {
            return Err("templates include each other too deeply".into());
        }
        let mut out = String::new();
        let mut scope = vec![("$".to_string(), data.clone())];
        self.nodes(nodes, data, &mut scope, &mut out, depth)?;
        Ok(out)
    }

    fn nodes(
        &self,
        nodes: &[Node],
        dot: &Value,
        scope: &mut Scope,
        out: &mut String,
        depth: usize,
    ) -> Result<(), String> {
        for node in nodes {
            self.node(node, dot, scope, out, depth)?;
        }
        Ok(())
    }

    fn node(
        &self,
        node: &Node,
        dot: &Value,
        scope: &mut Scope,
        out: &mut String,
        depth: usize,
    ) -> Result<(), String> {
        match node {
            Node::Text(text) => out.push_str(text),
            Node::Output(pipe) => {
                let value = self.pipeline(pipe, dot, scope, depth)?;
                if pipe.declare.is_empty() {
                    out.push_str(&printed(&value));
                } else {
                    for name in &pipe.declare {
                        scope.push((name.clone(), value.clone()));
                    }
                }
            }
            Node::If(pipe, body, otherwise) | Node::With(pipe, body, otherwise) => {
                let mark = scope.len();
                let value = self.pipeline(pipe, dot, scope, depth)?;
                for name in &pipe.declare {
                    scope.push((name.clone(), value.clone()));
                }
                let inner_dot = match node {
                    Node::With(..) => &value,
                    _ => dot,
                };
                let result = if truthy(&value) {
                    self.nodes(body, inner_dot, scope, out, depth)
                } else {
                    self.nodes(otherwise, dot, scope, out, depth)
                };
                scope.truncate(mark);
                result?;
            }
            Node::Range(pipe, body, otherwise) => {
                let collection = self.pipeline(
                    &Pipeline {
                        declare: Vec::new(),
                        ..pipe.clone()
                    },
                    dot,
                    scope,
                    depth,
                )?;
                let items: Vec<(Value, Value)> = match &collection {
                    Value::Array(items) => items
                        .iter()
                        .enumerate()
                        .map(|(i, v)| (Value::from(i), v.clone()))
                        .collect(),
                    // Go ranges over a map in key order.
                    Value::Object(map) => {
                        let sorted: BTreeMap<_, _> = map.iter().collect();
                        sorted
                            .into_iter()
                            .map(|(k, v)| (Value::from(k.clone()), v.clone()))
                            .collect()
                    }
                    Value::Null => Vec::new(),
                    other => {
                        return Err(format!("line {}: cannot range over {other}", pipe.line));
                    }
                };
                if items.is_empty() {
                    return self.nodes(otherwise, dot, scope, out, depth);
                }
                for (key, item) in items {
                    let mark = scope.len();
                    match pipe.declare.as_slice() {
                        [] => {}
                        [element] => scope.push((element.clone(), item.clone())),
                        [index, element, ..] => {
                            scope.push((index.clone(), key));
                            scope.push((element.clone(), item.clone()));
                        }
                    }
                    let result = self.nodes(body, &item, scope, out, depth);
                    scope.truncate(mark);
                    result?;
                }
            }
            Node::Template(name, pipe) => {
                let data = match pipe {
                    Some(pipe) => self.pipeline(pipe, dot, scope, depth)?,
                    None => Value::Null,
                };
                out.push_str(&self.include(name, &data, depth)?);
            }
        }
        Ok(())
    }

    fn include(&self, name: &str, data: &Value, depth: usize) -> Result<String, String> {
        let nodes = self
            .defines
            .get(name)
            .ok_or_else(|| format!("no template {name:?} is defined"))?;
        self.render(nodes, data, depth + 1)
            .map_err(|e| format!("in template {name:?}: {e}"))
    }

    fn pipeline(
        &self,
        pipe: &Pipeline,
        dot: &Value,
        scope: &Scope,
        depth: usize,
    ) -> Result<Value, String> {
        let mut piped = None;
        for command in &pipe.commands {
            piped = Some(
                self.command(command, piped.take(), dot, scope, depth)
                    .map_err(|e| format!("line {}: {e}", pipe.line))?,
            );
        }
        Ok(piped.unwrap_or(Value::Null))
    }

    fn command(
        &self,
        command: &[Operand],
        piped: Option<Value>,
        dot: &Value,
        scope: &Scope,
        depth: usize,
    ) -> Result<Value, String> {
        let mut args = Vec::new();
        for operand in &command[1..] {
            args.push(self.operand(operand, dot, scope, depth)?);
        }
        args.extend(piped);
        match &command[0] {
            Operand::Function(name) => self.call(name, args, depth),
            // `.Files.Get "path"` (or `$.Files.Get`): the only method charts here call.
            Operand::Field(fields) | Operand::Variable(_, fields)
                if fields.ends_with(&["Files".into(), "Get".into()]) =>
            {
                let [Value::String(path)] = args.as_slice() else {
                    return Err(".Files.Get takes one path".into());
                };
                Ok(Value::String(
                    self.files.get(path).cloned().unwrap_or_default(),
                ))
            }
            // `.Capabilities.APIVersions.Has "group/version/Kind"`.
            Operand::Field(fields) | Operand::Variable(_, fields)
                if fields.ends_with(&["APIVersions".into(), "Has".into()]) =>
            {
                let [wanted] = args.as_slice() else {
                    return Err(".Capabilities.APIVersions.Has takes one version".into());
                };
                let base = match &command[0] {
                    Operand::Variable(name, _) => scope
                        .iter()
                        .rev()
                        .find(|(n, _)| n == name)
                        .map(|(_, v)| v.clone())
                        .unwrap_or(Value::Null),
                    _ => dot.clone(),
                };
                let versions = field(&base, &fields[..fields.len() - 1], ".")?;
                Ok(Value::Bool(
                    versions.as_array().is_some_and(|v| v.contains(wanted)),
                ))
            }
            first if args.is_empty() => self.operand(first, dot, scope, depth),
            first => Err(format!("{first:?} is not a function but has arguments")),
        }
    }

    fn operand(
        &self,
        operand: &Operand,
        dot: &Value,
        scope: &Scope,
        depth: usize,
    ) -> Result<Value, String> {
        Ok(match operand {
            Operand::Dot => dot.clone(),
            Operand::Field(fields) => field(dot, fields, ".")?,
            Operand::Variable(name, fields) => {
                let (_, value) = scope
                    .iter()
                    .rev()
                    .find(|(n, _)| n == name)
                    .ok_or_else(|| format!("undefined variable {name}"))?;
                field(value, fields, name)?
            }
            Operand::Function(name) => self.call(name, Vec::new(), depth)?,
            Operand::Str(s) => Value::String(s.clone()),
            Operand::Int(n) => Value::from(*n),
            Operand::Bool(b) => Value::Bool(*b),
            Operand::Nil => Value::Null,
            Operand::Sub(pipe) => self.pipeline(pipe, dot, scope, depth)?,
        })
    }

    fn call(&self, name: &str, args: Vec<Value>, depth: usize) -> Result<Value, String> {
        if name == "include" {
            let [Value::String(template), data] = args.as_slice() else {
                return Err("include takes a template name and its data".into());
            };
            return self.include(template, data, depth).map(Value::String);
        }
        super::funcs::call(name, args)
    }
}

/// `.a.b` of `value`: a missing key is nil, a field of nil an error (Helm's missingkey=zero).
fn field(value: &Value, fields: &[String], base: &str) -> Result<Value, String> {
    let mut current = value;
    for (i, name) in fields.iter().enumerate() {
        current = match current {
            Value::Object(map) => map.get(name).unwrap_or(&Value::Null),
            Value::Null => {
                let base = base.trim_end_matches('.');
                let path = fields[..=i].join(".");
                return Err(format!("nil pointer evaluating {base}.{path}"));
            }
            other => return Err(format!("can't evaluate field {name} in {other}")),
        };
    }
    Ok(current.clone())
}

/// Go's truth: false, 0, nil and empty strings, lists and maps are false.
pub fn truthy(value: &Value) -> bool {
    match value {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64() != Some(0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
    }
}

/// How Go prints a value (`{{ . }}`, `%v`); nil prints nothing, as Helm renders it.
pub fn printed(value: &Value) -> String {
    match value {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::Array(items) => {
            let items: Vec<String> = items.iter().map(printed).collect();
            format!("[{}]", items.join(" "))
        }
        Value::Object(map) => {
            let sorted: BTreeMap<_, _> = map.iter().collect();
            let items: Vec<String> = sorted
                .into_iter()
                .map(|(k, v)| format!("{k}:{}", printed(v)))
                .collect();
            format!("map[{}]", items.join(" "))
        }
    }
}
