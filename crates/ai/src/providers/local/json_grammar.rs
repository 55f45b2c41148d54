//! Constrained decoding for the embedded model: a JSON Schema compiled into
//! a byte-level recogniser that tells, for any prefix, whether it can still
//! grow into a document the schema accepts. Generation then only picks
//! tokens that keep the text such a prefix, so the answer is valid JSON of
//! the asked form whenever it ends, and it ends as soon as the document is
//! complete.
//!
//! The recogniser keeps one invariant: every prefix it accepts can be
//! completed. A schema it cannot honour exactly (`pattern`, `anyOf`,
//! `$ref`, bounds on non-integers, ...) is refused at compile time rather
//! than loosened, so the provider declines the request and the router may
//! try a candidate that can.
//!
//! Output is compact JSON: no whitespace between tokens. A model this small
//! would otherwise spend its budget on indentation, and the form is the
//! same to any JSON reader. Keys of an object come in any order, each at
//! most once; only declared keys are produced.

use serde_json::Value;

/// How deep `{"type": "object"}` without properties (any JSON) may nest.
const MAX_ANY_DEPTH: usize = 16;
/// Bytes of a JSON number with a fraction or exponent.
const MAX_NUMBER_BYTES: usize = 32;
/// Digits of an exponent: with at most 32 bytes before it, any number
/// stays within an f64, which is what most readers parse JSON numbers into.
const MAX_EXPONENT_DIGITS: usize = 2;
/// Digits of an integer: every i64 fits.
const MAX_INTEGER_DIGITS: u32 = 19;
/// Schemas, properties and enum values a schema may hold in all: each
/// token considered clones the recogniser, whose size grows with them, so
/// a huge schema would stall the model for every other caller.
const MAX_SCHEMA_PARTS: usize = 512;
/// Nesting of a schema.
const MAX_SCHEMA_DEPTH: usize = 16;
/// Keywords that describe rather than constrain, so ignoring them keeps
/// the schema's meaning.
const ANNOTATIONS: [&str; 8] = [
    "title",
    "description",
    "$schema",
    "$id",
    "default",
    "examples",
    "$comment",
    "strict",
];

/// A schema the recogniser can enforce exactly.
#[derive(Debug, Clone, PartialEq)]
pub enum Schema {
    /// An object with declared properties: `(encoded key, schema)`, where
    /// the key is its JSON encoding with quotes.
    Object {
        properties: Vec<(Vec<u8>, Schema)>,
        required: Vec<bool>,
    },
    /// Any JSON object (`json_object`, or an object with no properties).
    AnyObject,
    /// Any JSON value.
    Any,
    Array {
        items: Box<Schema>,
        min: usize,
        max: Option<usize>,
    },
    String {
        min: usize,
        max: Option<usize>,
    },
    Integer {
        min: i64,
        max: i64,
    },
    Number,
    /// One of these JSON texts (enum, const, true/false, null).
    OneOf(Vec<Vec<u8>>),
}

/// Why a schema cannot be enforced.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct SchemaError(String);

fn refuse<T>(what: impl Into<String>) -> Result<T, SchemaError> {
    Err(SchemaError(what.into()))
}

impl Schema {
    /// The schema of a `json_schema` response format. The document itself
    /// must be an object, as OpenAI requires.
    pub fn root(schema: &Value) -> Result<Schema, SchemaError> {
        let mut budget = Budget {
            parts: MAX_SCHEMA_PARTS,
            depth: 0,
        };
        let schema = Schema::compile(schema, &mut budget)?;
        match schema {
            Schema::Object { .. } | Schema::AnyObject => Ok(schema),
            _ => refuse("the schema's root must be an object"),
        }
    }

    fn compile(schema: &Value, budget: &mut Budget) -> Result<Schema, SchemaError> {
        budget.take(1)?;
        if budget.depth >= MAX_SCHEMA_DEPTH {
            return refuse(format!("a schema nests at most {MAX_SCHEMA_DEPTH} deep"));
        }
        budget.depth += 1;
        let compiled = Schema::compile_node(schema, budget);
        budget.depth -= 1;
        compiled
    }

    fn compile_node(schema: &Value, budget: &mut Budget) -> Result<Schema, SchemaError> {
        let Some(map) = schema.as_object() else {
            return refuse("a schema must be an object");
        };
        let kind = map.get("type");
        let known: &[&str] = match kind.and_then(Value::as_str) {
            _ if map.contains_key("enum") || map.contains_key("const") => {
                &["enum", "const", "type"]
            }
            Some("object") => &["type", "properties", "required", "additionalProperties"],
            Some("array") => &["type", "items", "minItems", "maxItems"],
            Some("string") => &["type", "minLength", "maxLength"],
            Some("integer") => &[
                "type",
                "minimum",
                "maximum",
                "exclusiveMinimum",
                "exclusiveMaximum",
            ],
            Some("number" | "boolean" | "null") => &["type"],
            Some(other) => return refuse(format!("type `{other}` is not supported")),
            None if kind.is_some() => return refuse("`type` must be one name"),
            None => return refuse("a schema needs `type`, `enum` or `const`"),
        };
        if let Some(key) = map
            .keys()
            .find(|k| !known.contains(&k.as_str()) && !ANNOTATIONS.contains(&k.as_str()))
        {
            return refuse(format!("`{key}` is not supported here"));
        }
        if let Some(values) = map.get("enum") {
            let Some(values) = values.as_array().filter(|v| !v.is_empty()) else {
                return refuse("`enum` must list at least one value");
            };
            budget.take(values.len())?;
            return Ok(Schema::OneOf(values.iter().map(encoded).collect()));
        }
        if let Some(value) = map.get("const") {
            return Ok(Schema::OneOf(vec![encoded(value)]));
        }
        Ok(match kind.and_then(Value::as_str) {
            Some("object") => object(map, budget)?,
            Some("array") => {
                let items = match map.get("items") {
                    Some(items) => Schema::compile(items, budget)?,
                    None => Schema::Any,
                };
                let min = count(map, "minItems")?.unwrap_or(0);
                let max = count(map, "maxItems")?;
                if max.is_some_and(|max| max < min) {
                    return refuse("maxItems is below minItems");
                }
                Schema::Array {
                    items: Box::new(items),
                    min,
                    max,
                }
            }
            Some("string") => {
                let min = count(map, "minLength")?.unwrap_or(0);
                let max = count(map, "maxLength")?;
                if max.is_some_and(|max| max < min) {
                    return refuse("maxLength is below minLength");
                }
                Schema::String { min, max }
            }
            Some("integer") => {
                let bound = |key: &str| match map.get(key) {
                    None => Ok(None),
                    Some(v) => v
                        .as_i64()
                        .map(Some)
                        .ok_or_else(|| SchemaError(format!("`{key}` must be an integer"))),
                };
                let min = [
                    bound("minimum")?,
                    bound("exclusiveMinimum")?.map(|m| m.saturating_add(1)),
                ]
                .into_iter()
                .flatten()
                .max()
                .unwrap_or(i64::MIN);
                let max = [
                    bound("maximum")?,
                    bound("exclusiveMaximum")?.map(|m| m.saturating_sub(1)),
                ]
                .into_iter()
                .flatten()
                .min()
                .unwrap_or(i64::MAX);
                if max < min {
                    return refuse("no integer lies between the bounds");
                }
                Schema::Integer { min, max }
            }
            Some("number") => Schema::Number,
            Some("boolean") => Schema::OneOf(vec![b"true".to_vec(), b"false".to_vec()]),
            _ => Schema::OneOf(vec![b"null".to_vec()]),
        })
    }
}

/// What is left of a schema's allowance while compiling it.
struct Budget {
    parts: usize,
    depth: usize,
}

impl Budget {
    fn take(&mut self, parts: usize) -> Result<(), SchemaError> {
        self.parts = self.parts.checked_sub(parts).ok_or_else(|| {
            SchemaError(format!(
                "a schema holds at most {MAX_SCHEMA_PARTS} schemas, properties and enum values"
            ))
        })?;
        Ok(())
    }
}

fn object(
    map: &serde_json::Map<String, Value>,
    budget: &mut Budget,
) -> Result<Schema, SchemaError> {
    let properties = match map.get("properties") {
        None => None,
        Some(Value::Object(p)) => Some(p),
        Some(_) => return refuse("`properties` must be an object"),
    };
    match map.get("additionalProperties") {
        None | Some(Value::Bool(_)) => {}
        Some(_) => return refuse("`additionalProperties` may only be true or false"),
    }
    let required: Vec<&str> = match map.get("required") {
        None => Vec::new(),
        Some(Value::Array(names)) => names
            .iter()
            .map(|n| {
                n.as_str()
                    .ok_or_else(|| SchemaError("`required` must list names".into()))
            })
            .collect::<Result<_, _>>()?,
        Some(_) => return refuse("`required` must list names"),
    };
    let Some(properties) = properties.filter(|p| !p.is_empty()) else {
        if let Some(name) = required.first() {
            return refuse(format!("`{name}` is required but has no schema"));
        }
        return Ok(Schema::AnyObject);
    };
    if let Some(name) = required.iter().find(|n| !properties.contains_key(**n)) {
        return refuse(format!("`{name}` is required but has no schema"));
    }
    budget.take(properties.len())?;
    let mut compiled = Vec::with_capacity(properties.len());
    for (name, schema) in properties {
        compiled.push((
            encoded(&Value::String(name.clone())),
            Schema::compile(schema, budget)?,
        ));
    }
    let required = properties
        .keys()
        .map(|name| required.contains(&name.as_str()))
        .collect();
    Ok(Schema::Object {
        properties: compiled,
        required,
    })
}

fn count(map: &serde_json::Map<String, Value>, key: &str) -> Result<Option<usize>, SchemaError> {
    match map.get(key) {
        None => Ok(None),
        Some(v) => v
            .as_u64()
            .and_then(|n| usize::try_from(n).ok())
            .map(Some)
            .ok_or_else(|| SchemaError(format!("`{key}` must be a count"))),
    }
}

fn encoded(value: &Value) -> Vec<u8> {
    serde_json::to_vec(value).expect("a JSON value serialises")
}

/// Where a document stands: a stack of open values, innermost last.
#[derive(Debug, Clone)]
pub struct Recogniser<'s> {
    stack: Vec<Frame<'s>>,
}

static ANY: Schema = Schema::Any;
static ANY_OBJECT: Schema = Schema::AnyObject;
static LITERALS: [&[u8]; 3] = [b"true", b"false", b"null"];

#[derive(Debug, Clone)]
enum Frame<'s> {
    /// A value of this schema, before its first byte.
    Start(&'s Schema),
    Object(ObjectFrame<'s>),
    Array(ArrayFrame<'s>),
    Str(StrFrame),
    Integer(IntegerFrame),
    Number(NumberFrame),
    OneOf(OneOfFrame<'s>),
}

/// What a frame did with a byte.
enum Step<'s> {
    Took,
    Refused,
    /// Took it and opened a value inside.
    Open(Frame<'s>),
    /// Opened a value inside that starts with this byte.
    Enter(Frame<'s>),
    /// Took it and ended; `Some(i)` names the alternative a `OneOf` matched.
    Ended(Option<usize>),
    /// Ended just before it: the byte belongs to the enclosing value.
    EndedBefore(Option<usize>),
}

impl<'s> Recogniser<'s> {
    pub fn new(root: &'s Schema) -> Self {
        Self {
            stack: vec![Frame::Start(root)],
        }
    }

    /// Whether the document is complete: nothing may follow.
    pub fn is_complete(&self) -> bool {
        self.stack.is_empty()
    }

    /// Takes the bytes if the text stays a prefix of an accepted document;
    /// otherwise returns false and is left in an unspecified state.
    pub fn feed(&mut self, bytes: &[u8]) -> bool {
        bytes.iter().all(|&b| self.feed_byte(b))
    }

    /// Whether these (non-empty) bytes would be taken; `self` is unchanged.
    pub fn accepts(&self, bytes: &[u8]) -> bool {
        !bytes.is_empty() && self.clone().feed(bytes)
    }

    fn feed_byte(&mut self, b: u8) -> bool {
        loop {
            let depth = self.stack.len();
            let Some(top) = self.stack.last_mut() else {
                return false;
            };
            match top.step(b, depth) {
                Step::Took => return true,
                Step::Refused => return false,
                Step::Open(child) => {
                    self.stack.push(child);
                    return true;
                }
                Step::Enter(child) => self.stack.push(child),
                Step::Ended(matched) => {
                    self.stack.pop();
                    if let Some(parent) = self.stack.last_mut() {
                        parent.child_ended(matched);
                    }
                    return true;
                }
                Step::EndedBefore(matched) => {
                    self.stack.pop();
                    match self.stack.last_mut() {
                        Some(parent) => parent.child_ended(matched),
                        None => return false,
                    }
                }
            }
        }
    }
}

impl<'s> Frame<'s> {
    fn step(&mut self, b: u8, depth: usize) -> Step<'s> {
        match self {
            Frame::Start(schema) => {
                let Some(frame) = Frame::open(schema, b, depth) else {
                    return Step::Refused;
                };
                *self = frame;
                match self {
                    // These read their first byte as part of the value.
                    Frame::Integer(_) | Frame::Number(_) | Frame::OneOf(_) => self.step(b, depth),
                    _ => Step::Took,
                }
            }
            Frame::Object(o) => o.step(b),
            Frame::Array(a) => a.step(b),
            Frame::Str(s) => s.step(b),
            Frame::Integer(i) => i.step(b),
            Frame::Number(n) => n.step(b),
            Frame::OneOf(o) => o.step(b),
        }
    }

    /// The frame for a value of `schema` that starts with `b`. Objects,
    /// arrays and strings count `b` (their opening byte) as read.
    fn open(schema: &'s Schema, b: u8, depth: usize) -> Option<Frame<'s>> {
        Some(match (schema, b) {
            (Schema::Object { properties, .. }, b'{') => Frame::Object(ObjectFrame {
                schema,
                seen: vec![false; properties.len()],
                state: ObjectState::Opened,
            }),
            (Schema::AnyObject, b'{') => Frame::Object(ObjectFrame {
                schema,
                seen: Vec::new(),
                state: ObjectState::Opened,
            }),
            (Schema::Array { items, min, max }, b'[') => Frame::Array(ArrayFrame {
                items,
                min: *min,
                max: *max,
                count: 0,
                state: ArrayState::Opened,
            }),
            (Schema::String { min, max }, b'"') => Frame::Str(StrFrame::new(*min, *max)),
            (Schema::Integer { min, max }, b'-' | b'0'..=b'9') => Frame::Integer(IntegerFrame {
                min: *min,
                max: *max,
                negative: false,
                digits: 0,
                magnitude: 0,
            }),
            (Schema::Number, b'-' | b'0'..=b'9') => Frame::Number(NumberFrame::default()),
            (Schema::OneOf(options), _) => Frame::OneOf(OneOfFrame {
                options: options.iter().map(Vec::as_slice).enumerate().collect(),
                pos: 0,
            }),
            (Schema::Any, _) => {
                let nested = depth >= MAX_ANY_DEPTH;
                match b {
                    b'{' if !nested => return Frame::open(&ANY_OBJECT, b, depth),
                    b'[' if !nested => Frame::Array(ArrayFrame {
                        items: &ANY,
                        min: 0,
                        max: None,
                        count: 0,
                        state: ArrayState::Opened,
                    }),
                    b'"' => Frame::Str(StrFrame::new(0, None)),
                    b'-' | b'0'..=b'9' => Frame::Number(NumberFrame::default()),
                    _ => Frame::OneOf(OneOfFrame {
                        options: LITERALS.iter().copied().enumerate().collect(),
                        pos: 0,
                    }),
                }
            }
            _ => return None,
        })
    }

    fn child_ended(&mut self, matched: Option<usize>) {
        match self {
            Frame::Object(o) => o.child_ended(matched),
            Frame::Array(a) => {
                a.count += 1;
                a.state = ArrayState::AfterItem;
            }
            _ => unreachable!("only objects and arrays hold values"),
        }
    }
}

#[derive(Debug, Clone)]
struct ObjectFrame<'s> {
    /// `Schema::Object` or `Schema::AnyObject`.
    schema: &'s Schema,
    /// Which declared keys have been written.
    seen: Vec<bool>,
    state: ObjectState,
}

#[derive(Debug, Clone, Copy)]
enum ObjectState {
    Opened,
    /// After a comma.
    ExpectKey,
    InKey,
    /// The declared property the key named, if the object declares any.
    AfterKey(Option<usize>),
    InValue,
    AfterValue,
}

impl<'s> ObjectFrame<'s> {
    fn step(&mut self, b: u8) -> Step<'s> {
        match (self.state, b) {
            (ObjectState::Opened | ObjectState::ExpectKey, b'"') => {
                self.state = ObjectState::InKey;
                Step::Open(match self.schema {
                    Schema::Object { properties, .. } => Frame::OneOf(OneOfFrame {
                        options: properties
                            .iter()
                            .enumerate()
                            .filter(|(i, _)| !self.seen[*i])
                            .map(|(i, (key, _))| (i, key.as_slice()))
                            .collect(),
                        // The options' opening quote is this byte.
                        pos: 1,
                    }),
                    _ => Frame::Str(StrFrame::new(0, None)),
                })
            }
            (ObjectState::AfterKey(property), b':') => {
                self.state = ObjectState::InValue;
                let value = match (self.schema, property) {
                    (Schema::Object { properties, .. }, Some(i)) => &properties[i].1,
                    _ => &ANY,
                };
                Step::Open(Frame::Start(value))
            }
            (ObjectState::AfterValue, b',') if self.more_keys() => {
                self.state = ObjectState::ExpectKey;
                Step::Took
            }
            (ObjectState::Opened | ObjectState::AfterValue, b'}') if self.may_close() => {
                Step::Ended(None)
            }
            _ => Step::Refused,
        }
    }

    fn child_ended(&mut self, matched: Option<usize>) {
        self.state = match self.state {
            ObjectState::InKey => {
                if let Some(i) = matched {
                    self.seen[i] = true;
                }
                ObjectState::AfterKey(matched)
            }
            _ => ObjectState::AfterValue,
        };
    }

    fn more_keys(&self) -> bool {
        match self.schema {
            Schema::Object { .. } => self.seen.contains(&false),
            _ => true,
        }
    }

    fn may_close(&self) -> bool {
        match self.schema {
            Schema::Object { required, .. } => {
                required.iter().zip(&self.seen).all(|(r, s)| !r || *s)
            }
            _ => true,
        }
    }
}

#[derive(Debug, Clone)]
struct ArrayFrame<'s> {
    items: &'s Schema,
    min: usize,
    max: Option<usize>,
    count: usize,
    state: ArrayState,
}

#[derive(Debug, Clone, Copy)]
enum ArrayState {
    Opened,
    InItem,
    AfterItem,
}

impl<'s> ArrayFrame<'s> {
    fn step(&mut self, b: u8) -> Step<'s> {
        let room = self.max.is_none_or(|max| self.count < max);
        match (self.state, b) {
            (ArrayState::Opened | ArrayState::AfterItem, b']') if self.count >= self.min => {
                Step::Ended(None)
            }
            (ArrayState::Opened, _) if room => {
                self.state = ArrayState::InItem;
                Step::Enter(Frame::Start(self.items))
            }
            (ArrayState::AfterItem, b',') if room => {
                self.state = ArrayState::InItem;
                Step::Open(Frame::Start(self.items))
            }
            _ => Step::Refused,
        }
    }
}

/// A string after its opening quote; lengths count characters, as JSON
/// Schema does, an escape being one.
#[derive(Debug, Clone)]
struct StrFrame {
    min: usize,
    max: Option<usize>,
    chars: usize,
    escape: Escape,
    /// Continuation bytes still due in a UTF-8 sequence, and the range the
    /// next one must fall in (which rules out overlong forms, surrogates
    /// and code points past U+10FFFF).
    continuation: u8,
    next_range: (u8, u8),
}

#[derive(Debug, Clone, Copy)]
enum Escape {
    None,
    Backslash,
    /// `\u` and this many hex digits; `surrogate_risk` when the first is D.
    Hex {
        digits: u8,
        surrogate_risk: bool,
    },
}

impl StrFrame {
    fn new(min: usize, max: Option<usize>) -> Self {
        Self {
            min,
            max,
            chars: 0,
            escape: Escape::None,
            continuation: 0,
            next_range: (0x80, 0xBF),
        }
    }

    fn step<'s>(&mut self, b: u8) -> Step<'s> {
        if self.continuation > 0 {
            let (lo, hi) = self.next_range;
            if !(lo..=hi).contains(&b) {
                return Step::Refused;
            }
            self.continuation -= 1;
            self.next_range = (0x80, 0xBF);
            return Step::Took;
        }
        match self.escape {
            Escape::Backslash => {
                self.escape = match b {
                    b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => Escape::None,
                    b'u' => Escape::Hex {
                        digits: 0,
                        surrogate_risk: false,
                    },
                    _ => return Step::Refused,
                };
                return Step::Took;
            }
            Escape::Hex {
                digits,
                surrogate_risk,
            } => {
                // D800 to DFFF are halves of surrogate pairs, which a
                // lone escape may not name.
                let surrogate = surrogate_risk
                    && digits == 1
                    && matches!(b, b'8'..=b'9' | b'a'..=b'f' | b'A'..=b'F');
                if !b.is_ascii_hexdigit() || surrogate {
                    return Step::Refused;
                }
                self.escape = if digits == 3 {
                    Escape::None
                } else {
                    Escape::Hex {
                        digits: digits + 1,
                        surrogate_risk: digits == 0 && b.eq_ignore_ascii_case(&b'd'),
                    }
                };
                return Step::Took;
            }
            Escape::None => {}
        }
        if b == b'"' {
            return if self.chars >= self.min {
                Step::Ended(None)
            } else {
                Step::Refused
            };
        }
        let (continuation, next_range) = match b {
            0x00..=0x1F => return Step::Refused,
            0x20..=0x7F => (0, (0x80, 0xBF)),
            0xC2..=0xDF => (1, (0x80, 0xBF)),
            0xE0 => (2, (0xA0, 0xBF)),
            0xED => (2, (0x80, 0x9F)),
            0xE1..=0xEF => (2, (0x80, 0xBF)),
            0xF0 => (3, (0x90, 0xBF)),
            0xF1..=0xF3 => (3, (0x80, 0xBF)),
            0xF4 => (3, (0x80, 0x8F)),
            _ => return Step::Refused,
        };
        if self.max.is_some_and(|max| self.chars >= max) {
            return Step::Refused;
        }
        self.chars += 1;
        if b == b'\\' {
            self.escape = Escape::Backslash;
        }
        self.continuation = continuation;
        self.next_range = next_range;
        Step::Took
    }
}

/// An integer within bounds: a digit is taken only if some completion of
/// the digits so far (itself, or with more digits) lies within them.
#[derive(Debug, Clone)]
struct IntegerFrame {
    min: i64,
    max: i64,
    negative: bool,
    digits: u32,
    magnitude: u64,
}

impl IntegerFrame {
    fn step<'s>(&mut self, b: u8) -> Step<'s> {
        match b {
            b'-' if self.digits == 0 && !self.negative && self.min < 0 => {
                self.negative = true;
                Step::Took
            }
            b'0'..=b'9' => {
                let leading_zero = self.digits > 0 && self.magnitude == 0;
                let negative_zero = self.negative && self.digits == 0 && b == b'0';
                if leading_zero || negative_zero || self.digits == MAX_INTEGER_DIGITS {
                    return Step::Refused;
                }
                let magnitude = self.magnitude * 10 + u64::from(b - b'0');
                if !self.reachable(magnitude, self.digits + 1) {
                    return Step::Refused;
                }
                self.magnitude = magnitude;
                self.digits += 1;
                Step::Took
            }
            _ if self.digits > 0 && self.within(self.magnitude, 0) => Step::EndedBefore(None),
            _ => Step::Refused,
        }
    }

    /// Whether these digits, or these followed by more, can be in bounds.
    fn reachable(&self, magnitude: u64, digits: u32) -> bool {
        let more = if magnitude == 0 {
            0
        } else {
            MAX_INTEGER_DIGITS - digits
        };
        (0..=more).any(|k| self.within(magnitude, k))
    }

    /// Whether `magnitude` followed by `k` more digits can be in bounds.
    fn within(&self, magnitude: u64, k: u32) -> bool {
        let scale = 10i128.pow(k);
        let lo = i128::from(magnitude) * scale;
        let hi = lo + scale - 1;
        let (lo, hi) = if self.negative { (-hi, -lo) } else { (lo, hi) };
        lo <= i128::from(self.max) && hi >= i128::from(self.min)
    }
}

/// A JSON number: `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`.
#[derive(Debug, Clone, Default)]
struct NumberFrame {
    state: NumberState,
    len: usize,
    exponent_digits: usize,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
enum NumberState {
    #[default]
    Start,
    Minus,
    Zero,
    Integer,
    Dot,
    Fraction,
    E,
    ExponentSign,
    Exponent,
}

impl NumberState {
    fn complete(self) -> bool {
        matches!(
            self,
            NumberState::Zero
                | NumberState::Integer
                | NumberState::Fraction
                | NumberState::Exponent
        )
    }
}

impl NumberFrame {
    fn step<'s>(&mut self, b: u8) -> Step<'s> {
        use NumberState as S;
        let next = match (self.state, b) {
            (S::Start, b'-') => S::Minus,
            (S::Start | S::Minus, b'0') => S::Zero,
            (S::Start | S::Minus, b'1'..=b'9') => S::Integer,
            (S::Integer, b'0'..=b'9') => S::Integer,
            (S::Zero | S::Integer, b'.') => S::Dot,
            (S::Dot | S::Fraction, b'0'..=b'9') => S::Fraction,
            (S::Zero | S::Integer | S::Fraction, b'e' | b'E') => S::E,
            (S::E, b'+' | b'-') => S::ExponentSign,
            (S::E | S::ExponentSign | S::Exponent, b'0'..=b'9')
                if self.exponent_digits < MAX_EXPONENT_DIGITS =>
            {
                self.exponent_digits += 1;
                S::Exponent
            }
            (state, _) if state.complete() => return Step::EndedBefore(None),
            _ => return Step::Refused,
        };
        // Leave room for the digit an incomplete number still needs.
        let len = self.len + 1;
        if len > MAX_NUMBER_BYTES || (!next.complete() && len == MAX_NUMBER_BYTES) {
            return if self.state.complete() {
                Step::EndedBefore(None)
            } else {
                Step::Refused
            };
        }
        self.state = next;
        self.len = len;
        Step::Took
    }
}

/// One of a set of exact texts: property names, enum values, literals.
#[derive(Debug, Clone)]
struct OneOfFrame<'s> {
    /// Those still matching what was read, with the index they report.
    options: Vec<(usize, &'s [u8])>,
    pos: usize,
}

impl<'s> OneOfFrame<'s> {
    fn step(&mut self, b: u8) -> Step<'s> {
        let pos = self.pos;
        if self.options.iter().any(|(_, o)| o.get(pos) == Some(&b)) {
            self.options.retain(|(_, o)| o.get(pos) == Some(&b));
            self.pos += 1;
            return match self.options.as_slice() {
                [(i, only)] if only.len() == self.pos => Step::Ended(Some(*i)),
                _ => Step::Took,
            };
        }
        match self.options.iter().find(|(_, o)| o.len() == pos) {
            Some((i, _)) => Step::EndedBefore(Some(*i)),
            None => Step::Refused,
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn verdict_schema() -> Value {
        // The shape of the quality judge's rubric schema.
        json!({
            "type": "object",
            "additionalProperties": false,
            "required": ["scores", "safe", "reason"],
            "properties": {
                "scores": {
                    "type": "object",
                    "additionalProperties": false,
                    "required": ["clarity", "originality"],
                    "properties": {
                        "clarity": {"type": "integer", "minimum": 0, "maximum": 10},
                        "originality": {"type": "integer", "minimum": 0, "maximum": 10},
                    },
                },
                "safe": {"type": "boolean"},
                "reason": {"type": "string", "minLength": 1, "maxLength": 40},
            },
        })
    }

    fn takes(schema: &Schema, text: &str) -> bool {
        let mut r = Recogniser::new(schema);
        r.feed(text.as_bytes()) && r.is_complete()
    }

    #[test]
    fn documents_of_the_schema_are_taken_whole_and_nothing_after() {
        let schema = Schema::root(&verdict_schema()).unwrap();
        for text in [
            r#"{"scores":{"clarity":7,"originality":10},"safe":true,"reason":"Clear."}"#,
            r#"{"reason":"x","safe":false,"scores":{"originality":0,"clarity":0}}"#,
            r#"{"scores":{"clarity":3,"originality":4},"safe":true,"reason":"\u00e9t\u00e9 \"q\" ok"}"#,
            r#"{"scores":{"clarity":3,"originality":4},"safe":true,"reason":"été – ✓ 𝄞"}"#,
        ] {
            assert!(takes(&schema, text), "{text}");
            let mut r = Recogniser::new(&schema);
            assert!(r.feed(text.as_bytes()));
            assert!(!r.accepts(b" "), "nothing may follow {text}");
        }
    }

    #[test]
    fn anything_off_the_schema_is_refused_at_the_first_wrong_byte() {
        let schema = Schema::root(&verdict_schema()).unwrap();
        for (text, good) in [
            // Out of scale, as soon as no digit could fix it.
            (r#"{"scores":{"clarity":11"#, r#"{"scores":{"clarity":1"#),
            (r#"{"scores":{"clarity":-"#, r#"{"scores":{"clarity":"#),
            (r#"{"scores":{"clarity":07"#, r#"{"scores":{"clarity":0"#),
            // Unknown and repeated keys.
            (r#"{"scorez"#, r#"{"score"#),
            (
                r#"{"scores":{"clarity":1,"clarity"#,
                r#"{"scores":{"clarity":1,""#,
            ),
            // Closing before a required key.
            (r#"{"scores":{"clarity":1}"#, r#"{"scores":{"clarity":1"#),
            // Types.
            (r#"{"safe":""#, r#"{"safe":"#),
            (r#"{"safe":1"#, r#"{"safe":"#),
            (r#"{"reason":"""#, r#"{"reason":""#),
            // Whitespace, control characters, bad escapes and bad UTF-8.
            (r#"{ "#, r#"{"#),
            ("{\"reason\":\"a\n", r#"{"reason":"a"#),
            (r#"{"reason":"\x"#, r#"{"reason":"\"#),
            (r#"{"reason":"\ud8"#, r#"{"reason":"\ud"#),
        ] {
            let mut r = Recogniser::new(&schema);
            assert!(r.feed(good.as_bytes()), "{good} is a prefix");
            assert!(!Recogniser::new(&schema).feed(text.as_bytes()), "{text}");
        }
        let mut r = Recogniser::new(&schema);
        assert!(r.feed(br#"{"reason":""#));
        assert!(!r.accepts(&[0xC0, 0x80]), "an overlong form");
        assert!(!r.accepts(&[0xED, 0xA0, 0x80]), "a surrogate in UTF-8");
        assert!(r.accepts("é".as_bytes()));
        let long = format!(r#"{{"reason":"{}"#, "a".repeat(40));
        let mut r = Recogniser::new(&schema);
        assert!(r.feed(long.as_bytes()));
        assert!(!r.accepts(b"a"), "past maxLength");
        assert!(r.accepts(b"\""));
    }

    #[test]
    fn integer_bounds_admit_exactly_the_numbers_within() {
        for (min, max) in [(0, 10), (5, 100), (-20, -3), (-7, 7), (0, 0), (95, 105)] {
            let schema = Schema::root(&json!({
                "type": "object",
                "required": ["n"],
                "properties": {"n": {"type": "integer", "minimum": min, "maximum": max}},
            }))
            .unwrap();
            for n in -150i64..=150 {
                let text = format!(r#"{{"n":{n}}}"#);
                assert_eq!(
                    takes(&schema, &text),
                    (min..=max).contains(&n),
                    "{n} in {min}..={max}"
                );
            }
        }
    }

    #[test]
    fn random_walks_always_end_in_a_document_the_schema_accepts() {
        // Pick any byte the recogniser takes, preferring the ones that
        // close, until the document is complete: every prefix it takes can
        // be finished, and what it finishes parses and fits the schema.
        let schemas = [
            verdict_schema(),
            json!({"type": "object"}),
            json!({
                "type": "object",
                "properties": {
                    "tags": {"type": "array", "items": {"enum": ["a", "ab", 1, 10, null]}, "minItems": 1, "maxItems": 3},
                    "x": {"type": "number"},
                    "kind": {"const": "k"},
                },
                "required": ["tags"],
            }),
        ];
        for (n, schema_json) in schemas.iter().enumerate() {
            let schema = Schema::root(schema_json).unwrap();
            let mut rng = fastrand::Rng::with_seed(7 + n as u64);
            for _ in 0..300 {
                let mut r = Recogniser::new(&schema);
                let mut text = Vec::new();
                while !r.is_complete() {
                    assert!(
                        text.len() < 4096,
                        "no end in sight: {}",
                        String::from_utf8_lossy(&text)
                    );
                    let taken: Vec<u8> = (0..=255u8).filter(|b| r.accepts(&[*b])).collect();
                    assert!(
                        !taken.is_empty(),
                        "stuck after {}",
                        String::from_utf8_lossy(&text)
                    );
                    let closing: Vec<u8> = taken
                        .iter()
                        .copied()
                        .filter(|b| b"}]\"".contains(b))
                        .collect();
                    let pool = if !closing.is_empty() && rng.u8(..) < 90 {
                        &closing
                    } else {
                        &taken
                    };
                    let b = pool[rng.usize(..pool.len())];
                    assert!(r.feed(&[b]));
                    text.push(b);
                }
                let value: Value = serde_json::from_slice(&text)
                    .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&text)));
                assert!(value.is_object());
                if n == 0 {
                    let scores = &value["scores"];
                    for c in ["clarity", "originality"] {
                        assert!((0..=10).contains(&scores[c].as_i64().unwrap()));
                    }
                    let reason = value["reason"].as_str().unwrap().chars().count();
                    assert!((1..=40).contains(&reason));
                    assert!(value["safe"].is_boolean());
                    assert_eq!(value.as_object().unwrap().len(), 3);
                }
                if n == 2 {
                    let tags = value["tags"].as_array().unwrap();
                    assert!((1..=3).contains(&tags.len()));
                }
            }
        }
    }

    #[test]
    fn schemas_that_cannot_be_enforced_exactly_are_refused() {
        for schema in [
            json!({"type": "string"}),
            json!({"type": "object", "properties": {"a": {"type": "string", "pattern": "^x"}}}),
            json!({"anyOf": [{"type": "object"}]}),
            json!({"type": ["object", "null"]}),
            json!({"type": "object", "properties": {"a": {"$ref": "#/defs/a"}}}),
            json!({"type": "object", "properties": {"n": {"type": "number", "minimum": 0}}}),
            json!({"type": "object", "required": ["a"]}),
            json!({"type": "object", "properties": {"n": {"type": "integer", "minimum": 3, "maximum": 2}}}),
            json!({"type": "object", "properties": {"e": {"enum": []}}}),
            // Too large or too deep to enforce without stalling the model.
            json!({"type": "object", "properties": {"e": {"enum": (0..600).collect::<Vec<_>>()}}}),
            (0..20).fold(
                json!({"type": "integer"}),
                |inner, _| json!({"type": "object", "properties": {"a": inner}}),
            ),
        ] {
            assert!(Schema::root(&schema).is_err(), "{schema}");
        }
    }
}
