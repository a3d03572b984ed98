import marshmallow as ma
from marshmallow import fields, validate

from accounts.models import ROLES
from api.schemas.common import SyncArgsSchema, Timestamp



class LoginSchema(ma.Schema):
    username = fields.String(required=True, validate=validate.Length(min=1, max=64))
    password = fields.String(required=True, load_only=True, validate=validate.Length(min=1, max=256))


class UserSchema(ma.Schema):
    id = fields.String(dump_only=True)
    username = fields.String(required=True, validate=validate.Regexp(r"^[A-Za-z0-9_.-]{3,64}$"))
    display_name = fields.String(validate=validate.Length(max=200))
    role = fields.String(required=True, validate=validate.OneOf(ROLES))
    active = fields.Boolean(dump_only=True)
    locale = fields.String(allow_none=True, validate=validate.OneOf(["en", "zh-CN"]))
    password = fields.String(required=True, load_only=True, validate=validate.Length(min=8, max=256))
    created_at = Timestamp(dump_only=True)
    updated_at = Timestamp(dump_only=True)


class UserPatchSchema(ma.Schema):
    display_name = fields.String(validate=validate.Length(max=200))
    role = fields.String(validate=validate.OneOf(ROLES))
    active = fields.Boolean()
    locale = fields.String(allow_none=True, validate=validate.OneOf(["en", "zh-CN"]))
    password = fields.String(load_only=True, validate=validate.Length(min=8, max=256))


class UserQueryArgsSchema(SyncArgsSchema):
    role = fields.String(validate=validate.OneOf(ROLES))


class TokenSchema(ma.Schema):
    access_token = fields.String(required=True)
    token_type = fields.String(required=True, metadata={"example": "Bearer"})
    expires_at = Timestamp(required=True)
    user = fields.Nested(UserSchema, required=True)


class DeviceSchema(ma.Schema):
    id = fields.String(dump_only=True)
    user_id = fields.String(dump_only=True)
    label = fields.String(required=True, validate=validate.Length(min=1, max=100))
    public_key = fields.String(required=True, validate=validate.Length(min=1, max=64),
                               metadata={"description": "Ed25519 public key: base64 of the 32 raw bytes"})
    key_id = fields.String(dump_only=True, metadata={"description": "hex SHA-256 of the raw public key"})
    created_at = Timestamp(dump_only=True)


__all__ = ["LoginSchema", "UserSchema", "UserPatchSchema", "TokenSchema", "DeviceSchema",
           "UserQueryArgsSchema"]
