"""contract — any message of the contract (proto/*.proto, tests/proto/*.proto)
to and from protobuf bytes, for tests that speak to the bus themselves.

The types come from the descriptor set the Makefile builds from the same
.proto files the C code is generated from ($BUILD/gen/contract.desc), so the
tests hold no hand-typed copy of the contract that could drift from it.

    encode("nagar.identity.StaffLoginRequest", {"username": "a", "password": "b"})
    decode("nagar.Reply", data) -> {"requestId": ..., "status": {...}, ...}

Dicts use the fields' JSON names (the proto names are accepted too when
encoding). encode takes enums by name or number, 64-bit integers as int or
decimal text, bytes fields as bytes (text is UTF-8 encoded), and refuses a
name the type does not have; a sub-message may be given already encoded. decode gives every field, proto3 defaults
included: integers and enums as ints (what is on the wire), an absent
sub-message as None.
"""
import functools
import os

from google.protobuf import descriptor, descriptor_pb2, descriptor_pool, message_factory

from nagar_proc import bin_dir

FD = descriptor.FieldDescriptor
INTEGER_TYPES = {FD.TYPE_INT32, FD.TYPE_INT64, FD.TYPE_UINT32, FD.TYPE_UINT64, FD.TYPE_SINT32,
                 FD.TYPE_SINT64, FD.TYPE_FIXED32, FD.TYPE_FIXED64, FD.TYPE_SFIXED32,
                 FD.TYPE_SFIXED64}


@functools.lru_cache(maxsize=None)
def _factory():
    path = os.path.join(bin_dir(), "gen", "contract.desc")
    descriptor_set = descriptor_pb2.FileDescriptorSet()
    with open(path, "rb") as f:   # built by `make tests`
        descriptor_set.ParseFromString(f.read())
    pool = descriptor_pool.DescriptorPool()
    for file in descriptor_set.file:
        pool.Add(file)
    return pool, message_factory.MessageFactory(pool)


def message_type(full_name):
    """The message class of a fully qualified type name (e.g. "nagar.Request")."""
    pool, factory = _factory()
    return factory.GetPrototype(pool.FindMessageTypeByName(full_name))


def _field(message, name):
    fields = message.DESCRIPTOR.fields
    for field in fields:
        if name in (field.json_name, field.name):
            return field
    raise KeyError(f"{message.DESCRIPTOR.full_name} has no field {name!r} "
                   f"(it has {', '.join(f.json_name for f in fields)})")


def _scalar(field, value):
    if field.type == FD.TYPE_ENUM:
        if isinstance(value, str):
            return field.enum_type.values_by_name[value].number
        return int(value)
    if field.type == FD.TYPE_BYTES:
        return value.encode() if isinstance(value, str) else bytes(value)
    if field.type in INTEGER_TYPES:
        return int(value)
    if field.type == FD.TYPE_BOOL:
        return bool(value)
    return value


def _fill(message, values):
    for name, value in values.items():
        if value is None:
            continue
        field = _field(message, name)
        target = getattr(message, field.name)
        if field.label == FD.LABEL_REPEATED:
            for item in value:
                if field.type == FD.TYPE_MESSAGE:
                    _fill(target.add(), item)
                else:
                    target.append(_scalar(field, item))
        elif field.type == FD.TYPE_MESSAGE and isinstance(value, (bytes, bytearray)):
            target.MergeFromString(bytes(value))   # already encoded; unknown fields kept
        elif field.type == FD.TYPE_MESSAGE:
            target.SetInParent()
            _fill(target, value)
        else:
            setattr(message, field.name, _scalar(field, value))
    return message


def encode(type_name, values):
    """values (a dict by JSON name) -> the protobuf bytes of type_name."""
    return _fill(message_type(type_name)(), values).SerializeToString()


def _as_dict(message):
    out = {}
    for field in message.DESCRIPTOR.fields:
        value = getattr(message, field.name)
        if field.label == FD.LABEL_REPEATED:
            out[field.json_name] = [_as_dict(v) if field.type == FD.TYPE_MESSAGE else v
                                    for v in value]
        elif field.type == FD.TYPE_MESSAGE:
            out[field.json_name] = _as_dict(value) if message.HasField(field.name) else None
        else:
            out[field.json_name] = value
    return out


def decode(type_name, data):
    """Protobuf bytes of type_name -> a dict by JSON name (raises
    google.protobuf.message.DecodeError when they are not one)."""
    message = message_type(type_name)()
    message.ParseFromString(bytes(data))
    return _as_dict(message)


def enum_name(type_name, number):
    """The name of an enum value, e.g. enum_name("nagar.StatusCode", 5)."""
    pool, _ = _factory()
    return pool.FindEnumTypeByName(type_name).values_by_number[number].name


def _length_delimited(number, data):
    out, key, length = bytearray(), number << 3 | 2, len(data)
    for n in (key, length):
        while n > 0x7F:
            out.append(n & 0x7F | 0x80)
            n >>= 7
        out.append(n)
    return bytes(out) + data


def forged_actor(user_id, role, ulb=""):
    """RequestContext's old field 3, an Actor {1 user id, 2 role, 3 ULB} that
    services once believed and the contract now reserves. Attack tests append
    it to an encoded context to show that nobody reads it; it is the one piece
    written by hand because the contract, rightly, no longer has it."""
    actor = b"".join(_length_delimited(n, v.encode()) for n, v in ((1, user_id), (2, role),
                                                                  (3, ulb)) if v)
    return _length_delimited(3, actor)
