//! The repository kinds the provider manages (remotes of each package type, virtuals, locals),
//! each as a table of its attributes: type, whether required, its default, whether it is a
//! secret the API never returns, whether changing it replaces the repository.
//!
//! The tables follow the management API's specs field for field (`RemoteSpec`, `VirtualSpec`,
//! `LocalSpec` in artifactapi): the defaults are the server's, so an attribute left out of the
//! configuration plans the value the server will hold and a second plan shows no change.

use tf_provider::schema::{Attribute, AttributeConstraint, AttributeType, Block, Description, Schema};
use tf_provider::value::ValueAny;

use crate::checks::{self, FieldError};
use crate::values::Obj;

/// The type of an attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ty {
    Str,
    Int,
    Bool,
    StrList,
}

impl Ty {
    pub fn schema(self) -> AttributeType {
        match self {
            Ty::Str => AttributeType::String,
            Ty::Int => AttributeType::Number,
            Ty::Bool => AttributeType::Bool,
            Ty::StrList => AttributeType::List(Box::new(AttributeType::String)),
        }
    }
}

/// How an attribute is set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Set by the configuration.
    Required,
    /// Set by the configuration or, when left out, the server's default.
    Optional(Fallback),
    /// Set by the provider (`id`, a remote's `package_type`).
    Computed,
}

/// The server's default of an optional attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fallback {
    Null,
    Int(i64),
    Bool(bool),
    EmptyList,
}

impl Fallback {
    pub fn value(self) -> ValueAny {
        match self {
            Fallback::Null => ValueAny::Null,
            Fallback::Int(n) => ValueAny::Number(n),
            Fallback::Bool(b) => ValueAny::Bool(b),
            Fallback::EmptyList => ValueAny::List(Vec::new()),
        }
    }
}

/// One attribute.
#[derive(Debug, Clone, Copy)]
pub struct Field {
    pub name: &'static str,
    pub ty: Ty,
    pub role: Role,
    /// Sent on writes, never returned by reads (an upstream password): the state keeps what the
    /// configuration says, marked sensitive.
    pub secret: bool,
    /// Changing it replaces the repository (the API renames nothing).
    pub replace: bool,
    pub doc: &'static str,
}

const fn field(name: &'static str, ty: Ty, role: Role, doc: &'static str) -> Field {
    Field { name, ty, role, secret: false, replace: false, doc }
}

/// A repository kind: where the API keeps it and its attributes.
#[derive(Debug, Clone)]
pub struct Kind {
    /// `remote`, `virtual`, `local`: for messages.
    pub noun: &'static str,
    /// The API collection below `/api/v2/`.
    pub collection: &'static str,
    /// The package type every repository of this kind has (a remote resource per type).
    pub fixed_type: Option<&'static str>,
    pub fields: Vec<Field>,
    pub check: fn(&Obj) -> Vec<FieldError>,
    pub doc: String,
}

const ID: Field = field("id", Ty::Str, Role::Computed, "The repository's name.");

fn name() -> Field {
    Field { replace: true, ..field("name", Ty::Str, Role::Required, "Name: 1-64 of a-z, 0-9, '.', '-', '_'.") }
}

impl Kind {
    /// A remote of `package_type` (docker adds `ban_tags_enabled`, `ban_tags` and
    /// `token_realm_hosts`).
    pub fn remote(package_type: &'static str) -> Kind {
        use Fallback as D;
        use Role::{Computed, Optional, Required};
        let mut fields = vec![
            ID,
            name(),
            Field { replace: true, ..field("package_type", Ty::Str, Computed, "The package type.") },
            field("base_url", Ty::Str, Required, "The upstream's absolute http(s) URL."),
            field("immutable_ttl", Ty::Int, Optional(D::Int(0)), "Seconds immutable objects stay fresh; 0: forever."),
            field("mutable_ttl", Ty::Int, Optional(D::Int(3600)), "Seconds mutable objects stay fresh."),
            field("patterns", Ty::StrList, Optional(D::EmptyList), "Allowlist regexes (empty: everything)."),
            field("blocklist", Ty::StrList, Optional(D::EmptyList), "Denylist regexes, checked first."),
            field("mutable_patterns", Ty::StrList, Optional(D::EmptyList), "Paths forced mutable."),
            field("immutable_patterns", Ty::StrList, Optional(D::EmptyList), "Paths forced immutable."),
            field("username", Ty::Str, Optional(D::Null), "Upstream user name."),
            Field {
                secret: true,
                ..field("password", Ty::Str, Optional(D::Null), "Upstream password (never read back).")
            },
            field("tls_ca", Ty::Str, Optional(D::Null), "PEM CA certificates the upstream may chain to."),
            field("tls_insecure_skip_verify", Ty::Bool, Optional(D::Bool(false)), "Verify no upstream certificate."),
            field("allow_private_upstreams", Ty::Bool, Optional(D::Bool(false)), "Other hosts may be private."),
        ];
        if package_type == "docker" {
            fields.extend([
                field("ban_tags_enabled", Ty::Bool, Optional(D::Bool(false)), "Refuse the tags in ban_tags."),
                field("ban_tags", Ty::StrList, Optional(D::EmptyList), "Tags refused when ban_tags_enabled."),
                field("token_realm_hosts", Ty::StrList, Optional(D::EmptyList), "Token hosts given credentials."),
            ]);
        }
        Kind {
            noun: "remote",
            collection: "remotes",
            fixed_type: Some(package_type),
            fields,
            check: checks::remote,
            doc: format!("A {package_type} remote: a caching proxy of one upstream."),
        }
    }

    /// A virtual repository.
    pub fn virtual_repo() -> Kind {
        Kind {
            noun: "virtual",
            collection: "virtuals",
            fixed_type: None,
            fields: vec![
                ID,
                name(),
                Field { replace: true, ..field("package_type", Ty::Str, Role::Required, "The package type.") },
                field("members", Ty::StrList, Role::Required, "Member remotes and locals, in the order tried."),
            ],
            check: checks::virtual_repo,
            doc: "A virtual repository: one name in front of an ordered list of members.".into(),
        }
    }

    /// A local repository.
    pub fn local() -> Kind {
        Kind {
            noun: "local",
            collection: "locals",
            fixed_type: None,
            fields: vec![
                ID,
                name(),
                Field { replace: true, ..field("package_type", Ty::Str, Role::Required, "The package type.") },
                field(
                    "allow_overwrite",
                    Ty::Bool,
                    Role::Optional(Fallback::Bool(false)),
                    "Files may be uploaded again under a path that has one (generic).",
                ),
            ],
            check: checks::local,
            doc: "A local repository: files and packages pushed to artifactapi itself.".into(),
        }
    }

    /// The attribute names, for mapping the server's field names.
    pub fn names(&self) -> Vec<&'static str> {
        self.fields.iter().map(|f| f.name).collect()
    }

    /// The resource schema.
    pub fn resource_schema(&self) -> Schema {
        let attributes = self
            .fields
            .iter()
            .map(|f| {
                let constraint = match f.role {
                    Role::Required => AttributeConstraint::Required,
                    Role::Optional(Fallback::Null) => AttributeConstraint::Optional,
                    Role::Optional(_) => AttributeConstraint::OptionalComputed,
                    Role::Computed => AttributeConstraint::Computed,
                };
                (f.name.to_string(), attribute(f, constraint))
            })
            .collect();
        Schema {
            version: 1,
            block: Block { attributes, description: Description::plain(&self.doc), ..Block::default() },
        }
    }

    /// The data source schema: `name` given, everything else read (secrets left out).
    pub fn data_schema(&self) -> Schema {
        let attributes = self
            .fields
            .iter()
            .filter(|f| !f.secret)
            .map(|f| {
                let constraint =
                    if f.name == "name" { AttributeConstraint::Required } else { AttributeConstraint::Computed };
                (f.name.to_string(), attribute(f, constraint))
            })
            .collect();
        Schema {
            version: 1,
            block: Block { attributes, description: Description::plain(&self.doc), ..Block::default() },
        }
    }
}

fn attribute(f: &Field, constraint: AttributeConstraint) -> Attribute {
    Attribute {
        attr_type: f.ty.schema(),
        description: Description::plain(f.doc),
        constraint,
        sensitive: f.secret,
        deprecated: false,
    }
}

/// Every remote package type, in the order of the README.
pub const REMOTE_TYPES: [&str; 10] = checks::PACKAGE_TYPES;
