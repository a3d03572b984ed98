import marshmallow as ma
from marshmallow import fields, validate

from accounts.models import ROLES
from api.schemas.common import SyncArgsSchema, Timestamp



# Requests and responses are separate schemas where they differ: a generated client reads a
# schema used both ways as one model, and a write-only required field breaks its parsing.


class LoginSchema(ma.Schema):
    username = fields.String(required=True, validate=validate.Length(min=1, max=64))
    password = fields.String(required=True, validate=validate.Length(min=1, max=256))


BASE64_32_BYTES = r"^[A-Za-z0-9+/]{42}[AEIMQUYcgkosw048]=$"
USERNAME = validate.Regexp(r"^[A-Za-z0-9_.-]{3,64}$")
LOCALE = validate.OneOf(["en", "zh-CN"])


class UserCreateSchema(ma.Schema):
    username = fields.String(required=True, validate=USERNAME)
    display_name = fields.String(validate=validate.Length(max=200))
    role = fields.String(required=True, validate=validate.OneOf(ROLES))
    locale = fields.String(allow_none=True, validate=LOCALE)
    password = fields.String(required=True, validate=validate.Length(min=8, max=256))
    creditor_ids = fields.List(fields.String(validate=validate.Length(max=36)), validate=validate.Length(max=500),
                               metadata={"description": "The creditors whose cases the user may see (admins see all)"})


class UserSchema(ma.Schema):
    id = fields.String(required=True)
    username = fields.String(required=True)
    display_name = fields.String(required=True)
    role = fields.String(required=True, validate=validate.OneOf(ROLES))
    active = fields.Boolean(required=True)
    locale = fields.String(required=True, allow_none=True, validate=LOCALE)
    creditor_ids = fields.List(fields.String(), required=True)
    created_at = Timestamp(required=True)
    updated_at = Timestamp(required=True)


class UserPatchSchema(ma.Schema):
    display_name = fields.String(validate=validate.Length(max=200))
    role = fields.String(validate=validate.OneOf(ROLES))
    active = fields.Boolean()
    locale = fields.String(allow_none=True, validate=LOCALE)
    password = fields.String(validate=validate.Length(min=8, max=256))
    creditor_ids = fields.List(fields.String(validate=validate.Length(max=36)), validate=validate.Length(max=500),
                               metadata={"description": "The creditors whose cases the user may see (admins see all)"})


class UserQueryArgsSchema(SyncArgsSchema):
    role = fields.String(validate=validate.OneOf(ROLES))


class CreditorCreateSchema(ma.Schema):
    code = fields.String(required=True, validate=validate.Regexp(r"^[A-Za-z0-9_.-]{1,32}$"))
    name = fields.String(required=True, validate=validate.Length(min=1, max=200))


class CreditorSchema(ma.Schema):
    id = fields.String(required=True)
    code = fields.String(required=True)
    name = fields.String(required=True)
    created_at = Timestamp(required=True)


class TokenSchema(ma.Schema):
    access_token = fields.String(required=True)
    token_type = fields.String(required=True, metadata={"example": "Bearer"})
    expires_at = Timestamp(required=True)
    user = fields.Nested(UserSchema, required=True)


class DeviceCreateSchema(ma.Schema):
    label = fields.String(required=True, validate=validate.Length(min=1, max=100))
    public_key = fields.String(required=True, validate=validate.Length(min=1, max=64),
                               metadata={"description": "Ed25519 public key: base64 of the 32 raw bytes",
                                         "pattern": BASE64_32_BYTES})


class DeviceSchema(ma.Schema):
    id = fields.String(required=True)
    user_id = fields.String(required=True)
    label = fields.String(required=True)
    public_key = fields.String(required=True, metadata={"description": "Ed25519 public key: base64 of the 32 raw bytes"})
    key_id = fields.String(required=True, metadata={"description": "hex SHA-256 of the raw public key"})
    created_at = Timestamp(required=True)


__all__ = ["LoginSchema", "UserCreateSchema", "UserSchema", "UserPatchSchema", "TokenSchema",
           "DeviceCreateSchema", "DeviceSchema", "UserQueryArgsSchema", "CreditorCreateSchema",
           "CreditorSchema"]
