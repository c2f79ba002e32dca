//! Go text/template syntax, the part Helm charts are written in: text and `{{ }}` actions with
//! the `{{-`/`-}}` whitespace trimming, comments, pipelines of functions, fields, variables and
//! literals, and `if`/`else if`/`with`/`range`/`define`/`template` blocks.

/// One node of a parsed template.
#[derive(Debug, Clone)]
pub enum Node {
    Text(String),
    /// `{{ pipeline }}`: its value is written (nothing when it declares variables).
    Output(Pipeline),
    If(Pipeline, Vec<Node>, Vec<Node>),
    With(Pipeline, Vec<Node>, Vec<Node>),
    Range(Pipeline, Vec<Node>, Vec<Node>),
    Template(String, Option<Pipeline>),
}

/// `$a, $b := cmd | cmd arg | ...`
#[derive(Debug, Clone)]
pub struct Pipeline {
    pub declare: Vec<String>,
    pub commands: Vec<Vec<Operand>>,
    /// Where it is, for errors.
    pub line: usize,
}

#[derive(Debug, Clone)]
pub enum Operand {
    Dot,
    /// `.a.b`
    Field(Vec<String>),
    /// `$name.a.b` (`$` alone is the template's data)
    Variable(String, Vec<String>),
    Function(String),
    Str(String),
    Int(i64),
    Bool(bool),
    Nil,
    Sub(Pipeline),
}

/// A parsed file: its nodes and the templates it defines.
pub struct Parsed {
    pub root: Vec<Node>,
    pub defines: Vec<(String, Vec<Node>)>,
}

enum Segment {
    Text(String),
    Action(String, usize),
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Word(String),
    Str(String),
    Int(i64),
    Field(Vec<String>),
    Dot,
    Variable(String, Vec<String>),
    Pipe,
    Open,
    Close,
    Declare,
    Comma,
}

pub fn parse(source: &str) -> Result<Parsed, String> {
    let mut parser = Parser {
        segments: segments(source)?,
        next: 0,
        defines: Vec::new(),
    };
    let (root, end) = parser.list()?;
    if let Some((word, line)) = end {
        return Err(format!("line {line}: unexpected {{{{{word}}}}}"));
    }
    Ok(Parsed {
        root,
        defines: parser.defines,
    })
}

fn is_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\r' | '\n')
}

/// Splits the source into text and action bodies, applying the trim markers.
fn segments(source: &str) -> Result<Vec<Segment>, String> {
    let mut out = Vec::new();
    let mut rest = source;
    let mut consumed = 0;
    let mut trim_next = false;
    while let Some(start) = rest.find("{{") {
        let mut text = &rest[..start];
        if trim_next {
            text = text.trim_start_matches(is_space);
        }
        let after = &rest[start + 2..];
        let trim_before = after.starts_with('-') && after[1..].starts_with(is_space);
        if trim_before {
            text = text.trim_end_matches(is_space);
        }
        if !text.is_empty() {
            out.push(Segment::Text(text.to_string()));
        }
        let line = 1 + source[..consumed + start].matches('\n').count();
        let body_start = if trim_before { 1 } else { 0 };
        let close = closing(after).ok_or_else(|| format!("line {line}: unclosed action"))?;
        let mut body = &after[body_start..close];
        trim_next = body.ends_with('-') && body[..body.len() - 1].ends_with(is_space);
        if trim_next {
            body = &body[..body.len() - 1];
        }
        out.push(Segment::Action(body.trim().to_string(), line));
        let advance = start + 2 + close + 2;
        consumed += advance;
        rest = &rest[advance..];
    }
    let text = if trim_next {
        rest.trim_start_matches(is_space)
    } else {
        rest
    };
    if !text.is_empty() {
        out.push(Segment::Text(text.to_string()));
    }
    Ok(out)
}

/// The offset of the `}}` that closes an action, skipping quoted strings and comments.
fn closing(body: &str) -> Option<usize> {
    let bytes = body.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'"' => {
                i += 1;
                while i < bytes.len() && bytes[i] != b'"' {
                    i += if bytes[i] == b'\\' { 2 } else { 1 };
                }
            }
            b'`' => i += body[i + 1..].find('`')? + 1,
            b'/' if body[i..].starts_with("/*") => i += body[i..].find("*/")? + 1,
            b'}' if body[i..].starts_with("}}") => return Some(i),
            _ => {}
        }
        i += 1;
    }
    None
}

fn tokenize(body: &str, line: usize) -> Result<Vec<Token>, String> {
    let chars: Vec<char> = body.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    let word_char = |c: char| c.is_alphanumeric() || c == '_';
    let chain = |i: &mut usize| -> Vec<String> {
        let mut fields = Vec::new();
        while *i < chars.len()
            && chars[*i] == '.'
            && chars.get(*i + 1).is_some_and(|c| word_char(*c))
        {
            *i += 1;
            let start = *i;
            while *i < chars.len() && word_char(chars[*i]) {
                *i += 1;
            }
            fields.push(chars[start..*i].iter().collect());
        }
        fields
    };
    while i < chars.len() {
        let c = chars[i];
        match c {
            _ if is_space(c) => i += 1,
            '|' => {
                tokens.push(Token::Pipe);
                i += 1;
            }
            '(' => {
                tokens.push(Token::Open);
                i += 1;
            }
            ')' => {
                tokens.push(Token::Close);
                i += 1;
            }
            ',' => {
                tokens.push(Token::Comma);
                i += 1;
            }
            ':' if chars.get(i + 1) == Some(&'=') => {
                tokens.push(Token::Declare);
                i += 2;
            }
            '"' => {
                let mut value = String::new();
                i += 1;
                while i < chars.len() && chars[i] != '"' {
                    if chars[i] == '\\' {
                        i += 1;
                        value.push(match chars.get(i) {
                            Some('n') => '\n',
                            Some('t') => '\t',
                            Some(other) => *other,
                            None => return Err(format!("line {line}: unterminated string")),
                        });
                    } else {
                        value.push(chars[i]);
                    }
                    i += 1;
                }
                i += 1;
                tokens.push(Token::Str(value));
            }
            '`' => {
                let start = i + 1;
                i = start;
                while i < chars.len() && chars[i] != '`' {
                    i += 1;
                }
                tokens.push(Token::Str(chars[start..i].iter().collect()));
                i += 1;
            }
            '.' => {
                let fields = chain(&mut i);
                if fields.is_empty() {
                    tokens.push(Token::Dot);
                    i += 1;
                } else {
                    tokens.push(Token::Field(fields));
                }
            }
            '$' => {
                let start = i;
                i += 1;
                while i < chars.len() && word_char(chars[i]) {
                    i += 1;
                }
                let name: String = chars[start..i].iter().collect();
                tokens.push(Token::Variable(name, chain(&mut i)));
            }
            _ if c.is_ascii_digit()
                || (c == '-' && chars.get(i + 1).is_some_and(char::is_ascii_digit)) =>
            {
                let start = i;
                i += 1;
                while i < chars.len() && chars[i].is_ascii_digit() {
                    i += 1;
                }
                let text: String = chars[start..i].iter().collect();
                let number = text
                    .parse()
                    .map_err(|_| format!("line {line}: {text} is not a supported number"))?;
                tokens.push(Token::Int(number));
            }
            _ if word_char(c) => {
                let start = i;
                while i < chars.len() && word_char(chars[i]) {
                    i += 1;
                }
                tokens.push(Token::Word(chars[start..i].iter().collect()));
            }
            other => {
                return Err(format!(
                    "line {line}: unexpected {other:?} in {{{{{body}}}}}"
                ));
            }
        }
    }
    Ok(tokens)
}

fn pipeline(tokens: &[Token], line: usize) -> Result<Pipeline, String> {
    let mut declare = Vec::new();
    let mut rest = tokens;
    if let Some(at) = tokens.iter().position(|t| *t == Token::Declare) {
        for token in &tokens[..at] {
            match token {
                Token::Variable(name, fields) if fields.is_empty() => declare.push(name.clone()),
                Token::Comma => {}
                other => return Err(format!("line {line}: cannot declare {other:?}")),
            }
        }
        rest = &tokens[at + 1..];
    }
    let mut commands = Vec::new();
    let mut command = Vec::new();
    let mut i = 0;
    while i < rest.len() {
        let operand = match &rest[i] {
            Token::Pipe => {
                commands.push(std::mem::take(&mut command));
                i += 1;
                continue;
            }
            Token::Open => {
                let mut depth = 0;
                let start = i + 1;
                loop {
                    match rest.get(i) {
                        Some(Token::Open) => depth += 1,
                        Some(Token::Close) => depth -= 1,
                        Some(_) => {}
                        None => return Err(format!("line {line}: unclosed parenthesis")),
                    }
                    if depth == 0 {
                        break;
                    }
                    i += 1;
                }
                Operand::Sub(pipeline(&rest[start..i], line)?)
            }
            Token::Word(word) => match word.as_str() {
                "true" => Operand::Bool(true),
                "false" => Operand::Bool(false),
                "nil" => Operand::Nil,
                _ => Operand::Function(word.clone()),
            },
            Token::Str(s) => Operand::Str(s.clone()),
            Token::Int(n) => Operand::Int(*n),
            Token::Dot => Operand::Dot,
            Token::Field(fields) => Operand::Field(fields.clone()),
            Token::Variable(name, fields) => Operand::Variable(name.clone(), fields.clone()),
            other => return Err(format!("line {line}: unexpected {other:?}")),
        };
        command.push(operand);
        i += 1;
    }
    if command.is_empty() {
        return Err(format!("line {line}: missing command"));
    }
    commands.push(command);
    Ok(Pipeline {
        declare,
        commands,
        line,
    })
}

/// What ended a list of nodes: `end` or `else ...`, with the tokens after the keyword.
type End = Option<(String, usize)>;

struct Parser {
    segments: Vec<Segment>,
    next: usize,
    defines: Vec<(String, Vec<Node>)>,
}

impl Parser {
    /// Nodes up to an `end` or `else ...` (returned) or the end of the source.
    fn list(&mut self) -> Result<(Vec<Node>, End), String> {
        let mut nodes = Vec::new();
        while self.next < self.segments.len() {
            let index = self.next;
            self.next += 1;
            let (body, line) = match &self.segments[index] {
                Segment::Text(text) => {
                    nodes.push(Node::Text(text.clone()));
                    continue;
                }
                Segment::Action(body, line) => (body.clone(), *line),
            };
            if body.starts_with("/*") && body.ends_with("*/") {
                continue;
            }
            let tokens = tokenize(&body, line)?;
            let keyword = match tokens.first() {
                Some(Token::Word(w)) => w.as_str(),
                _ => "",
            };
            let rest = tokens.get(1..).unwrap_or_default();
            match keyword {
                "end" => return Ok((nodes, Some(("end".into(), line)))),
                "else" => {
                    // What follows `else` (`if ...`, `with ...`) goes back to the block.
                    let chained = body["else".len()..].trim();
                    let end = match chained {
                        "" => "else".to_string(),
                        _ => format!("else {chained}"),
                    };
                    return Ok((nodes, Some((end, line))));
                }
                "if" | "with" | "range" => nodes.push(self.block(keyword, pipeline(rest, line)?)?),
                "define" => {
                    let Some(Token::Str(name)) = rest.first() else {
                        return Err(format!("line {line}: define needs a quoted name"));
                    };
                    let (body, end) = self.list()?;
                    expect_end(end, line)?;
                    self.defines.push((name.clone(), body));
                }
                "template" => {
                    let Some(Token::Str(name)) = rest.first() else {
                        return Err(format!("line {line}: template needs a quoted name"));
                    };
                    let pipe = match rest.len() {
                        1 => None,
                        _ => Some(pipeline(&rest[1..], line)?),
                    };
                    nodes.push(Node::Template(name.clone(), pipe));
                }
                "block" | "break" | "continue" => {
                    return Err(format!("line {line}: {{{{{keyword}}}}} is not supported"));
                }
                _ => nodes.push(Node::Output(pipeline(&tokens, line)?)),
            }
        }
        Ok((nodes, None))
    }

    /// An `if`, `with` or `range` block; `else if`/`else with` chain into a nested block that
    /// ends at the same `end`.
    fn block(&mut self, keyword: &str, pipe: Pipeline) -> Result<Node, String> {
        let line = pipe.line;
        let (body, end) = self.list()?;
        let otherwise = match end {
            Some((word, _)) if word == "end" => Vec::new(),
            Some((word, else_line)) if word == "else" => {
                let (otherwise, end) = self.list()?;
                expect_end(end, else_line)?;
                otherwise
            }
            Some((word, else_line)) => {
                let chained = word.trim_start_matches("else ").to_string();
                let tokens = tokenize(&chained, else_line)?;
                let Some(Token::Word(next)) = tokens.first() else {
                    return Err(format!("line {else_line}: unexpected {{{{{word}}}}}"));
                };
                if next != "if" && next != "with" {
                    return Err(format!("line {else_line}: unexpected {{{{{word}}}}}"));
                }
                let next = next.clone();
                vec![self.block(&next, pipeline(&tokens[1..], else_line)?)?]
            }
            None => {
                return Err(format!(
                    "line {line}: {{{{{keyword}}}}} without {{{{end}}}}"
                ));
            }
        };
        Ok(match keyword {
            "if" => Node::If(pipe, body, otherwise),
            "with" => Node::With(pipe, body, otherwise),
            _ => Node::Range(pipe, body, otherwise),
        })
    }
}

fn expect_end(end: End, line: usize) -> Result<(), String> {
    match end {
        Some((word, _)) if word == "end" => Ok(()),
        Some((word, at)) => Err(format!("line {at}: unexpected {{{{{word}}}}}")),
        None => Err(format!("line {line}: missing {{{{end}}}}")),
    }
}
