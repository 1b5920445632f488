//! The parsed query. Positions ride along for error messages but take no part in equality,
//! so a query printed and parsed again compares equal to the original.

use std::fmt;

/// A line and column (both from 1) in the query text.
#[derive(Debug, Clone, Copy, Default, Eq)]
pub struct Pos {
    pub line: u32,
    pub column: u32,
}

impl Pos {
    pub const START: Pos = Pos { line: 1, column: 1 };
}

/// Positions are where a node was written, not what it means.
impl PartialEq for Pos {
    fn eq(&self, _: &Pos) -> bool {
        true
    }
}

impl fmt::Display for Pos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.column)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Ident {
    pub name: String,
    pub pos: Pos,
}

/// `let` statements, then the tabular expression whose rows are the answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Query {
    pub lets: Vec<Let>,
    pub body: Tabular,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Let {
    pub name: Ident,
    pub value: LetValue,
}

#[derive(Debug, Clone, PartialEq)]
pub enum LetValue {
    Scalar(Expr),
    Tabular(Tabular),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Tabular {
    pub source: Source,
    pub operators: Vec<Operator>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Source {
    /// A table or a tabular `let`.
    Table(Ident),
    /// `union T1, T2, …`
    Union(Vec<Tabular>),
    /// `print a = 1, …`: one row of expressions.
    Print(Vec<NamedExpr>),
}

/// `name = expr`, or an expression whose column is named after it.
#[derive(Debug, Clone, PartialEq)]
pub struct NamedExpr {
    pub name: Option<Ident>,
    pub expr: Expr,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Operator {
    Where(Expr),
    Project(Vec<NamedExpr>),
    /// Column names, each possibly with `*` wildcards.
    ProjectAway(Vec<Ident>),
    /// `new = old` pairs.
    ProjectRename(Vec<(Ident, Ident)>),
    Extend(Vec<NamedExpr>),
    Summarize {
        aggregates: Vec<NamedExpr>,
        by: Vec<NamedExpr>,
    },
    Sort(Vec<SortKey>),
    Top {
        count: Expr,
        key: SortKey,
    },
    Take(Expr),
    Count,
    /// Empty for `distinct *`.
    Distinct(Vec<Ident>),
    Join {
        kind: JoinKind,
        right: Tabular,
        on: Vec<JoinKey>,
    },
    Union(Vec<Tabular>),
    Render(Ident),
}

#[derive(Debug, Clone, PartialEq)]
pub struct SortKey {
    pub expr: Expr,
    pub descending: bool,
    pub nulls_first: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JoinKind {
    /// KQL's default: the left side's rows deduplicated by key, then an inner join.
    InnerUnique,
    Inner,
    LeftOuter,
    LeftAnti,
    LeftSemi,
}

impl JoinKind {
    pub const ALL: [(JoinKind, &'static str); 5] = [
        (JoinKind::InnerUnique, "innerunique"),
        (JoinKind::Inner, "inner"),
        (JoinKind::LeftOuter, "leftouter"),
        (JoinKind::LeftAnti, "leftanti"),
        (JoinKind::LeftSemi, "leftsemi"),
    ];

    pub fn name(self) -> &'static str {
        JoinKind::ALL
            .iter()
            .find(|(kind, _)| *kind == self)
            .map_or("inner", |(_, name)| name)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum JoinKey {
    /// `on Key`: the same column on both sides.
    Same(Ident),
    /// `on $left.A == $right.B`
    Pair { left: Ident, right: Ident },
}

#[derive(Debug, Clone, PartialEq)]
pub enum Literal {
    Bool(bool),
    Long(i64),
    Real(f64),
    String(String),
    /// Nanoseconds.
    Timespan(i64),
    /// UTC nanoseconds since 1970.
    Datetime(i64),
}

#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    Literal(Literal, Pos),
    Column(Ident),
    /// `f(args)`; `count()` and `*` arguments (`arg_max(x, *)`) included.
    Call {
        name: Ident,
        args: Vec<Expr>,
    },
    /// `*` as a function argument.
    Star(Pos),
    Binary {
        op: BinaryOp,
        left: Box<Expr>,
        right: Box<Expr>,
        pos: Pos,
    },
    Negate(Box<Expr>, Pos),
    /// `base.name`
    Member {
        base: Box<Expr>,
        name: Ident,
    },
    /// `base[index]`
    Index {
        base: Box<Expr>,
        index: Box<Expr>,
    },
    In {
        expr: Box<Expr>,
        list: Vec<Expr>,
        negated: bool,
        case_insensitive: bool,
        pos: Pos,
    },
    Between {
        expr: Box<Expr>,
        low: Box<Expr>,
        high: Box<Expr>,
        negated: bool,
        pos: Pos,
    },
}

impl Expr {
    pub fn pos(&self) -> Pos {
        match self {
            Expr::Literal(_, pos) | Expr::Star(pos) | Expr::Negate(_, pos) => *pos,
            Expr::Column(ident) | Expr::Call { name: ident, .. } => ident.pos,
            Expr::Binary { pos, .. } | Expr::In { pos, .. } | Expr::Between { pos, .. } => *pos,
            Expr::Member { base, .. } | Expr::Index { base, .. } => base.pos(),
        }
    }
}

/// Binary operators, each with its KQL spelling.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinaryOp {
    Or,
    And,
    Eq,
    NotEq,
    Lt,
    Le,
    Gt,
    Ge,
    EqTilde,
    NotEqTilde,
    Add,
    Sub,
    Mul,
    Div,
    Mod,
    /// `contains`, `has`, `startswith`, … (see [`StringOp`]).
    Text(StringOp),
}

/// The string predicates: which test, case-sensitive or not, negated or not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StringOp {
    pub test: StringTest,
    pub case_sensitive: bool,
    pub negated: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StringTest {
    Contains,
    Has,
    StartsWith,
    EndsWith,
    /// `matches regex`, always case-sensitive and never negated.
    MatchesRegex,
}

impl StringTest {
    pub const WORDS: [(StringTest, &'static str); 4] = [
        (StringTest::Contains, "contains"),
        (StringTest::Has, "has"),
        (StringTest::StartsWith, "startswith"),
        (StringTest::EndsWith, "endswith"),
    ];
}

impl BinaryOp {
    /// The symbol operators, longest match first where spellings overlap.
    pub const SYMBOLS: [(BinaryOp, &'static str); 14] = [
        (BinaryOp::Eq, "=="),
        (BinaryOp::NotEq, "!="),
        (BinaryOp::NotEq, "<>"),
        (BinaryOp::Le, "<="),
        (BinaryOp::Ge, ">="),
        (BinaryOp::Lt, "<"),
        (BinaryOp::Gt, ">"),
        (BinaryOp::EqTilde, "=~"),
        (BinaryOp::NotEqTilde, "!~"),
        (BinaryOp::Add, "+"),
        (BinaryOp::Sub, "-"),
        (BinaryOp::Mul, "*"),
        (BinaryOp::Div, "/"),
        (BinaryOp::Mod, "%"),
    ];

    /// How the operator is written.
    pub fn spelling(self) -> String {
        match self {
            BinaryOp::Or => "or".into(),
            BinaryOp::And => "and".into(),
            BinaryOp::Text(op) if op.test == StringTest::MatchesRegex => "matches regex".into(),
            BinaryOp::Text(op) => {
                let word = StringTest::WORDS
                    .iter()
                    .find(|(test, _)| *test == op.test)
                    .map_or("contains", |(_, word)| word);
                format!(
                    "{}{word}{}",
                    if op.negated { "!" } else { "" },
                    if op.case_sensitive { "_cs" } else { "" }
                )
            }
            symbol => BinaryOp::SYMBOLS
                .iter()
                .find(|(op, _)| *op == symbol)
                .map_or("==", |(_, text)| text)
                .to_owned(),
        }
    }
}
