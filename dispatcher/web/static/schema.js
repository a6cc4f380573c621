// A small JSON-Schema checker for the clone editor: the keywords config schemas use (type,
// properties, required, additionalProperties, items, enum, const, bounds, lengths, pattern,
// allOf/anyOf/oneOf/not). The server checks again with the full validator; this only lets
// the editor show errors before submitting. Returns sentences, e.g. "optimizer.learning_rate
// must be > 0".
function typeOf(value) {
  if (value === null) return "null";
  if (Array.isArray(value)) return "array";
  if (typeof value === "number") return Number.isInteger(value) ? "integer" : "number";
  return typeof value;
}

function typeMatches(value, type) {
  const actual = typeOf(value);
  return type === actual || (type === "number" && actual === "integer");
}

function at(path) {
  return path || "the config";
}

export function validate(value, schema, path = "", errors = []) {
  if (schema === true || schema === undefined || schema === null) return errors;
  if (schema === false) {
    errors.push(`${at(path)} is not allowed`);
    return errors;
  }
  if (schema.type !== undefined) {
    const types = Array.isArray(schema.type) ? schema.type : [schema.type];
    if (!types.some((t) => typeMatches(value, t))) {
      errors.push(`${at(path)} must be ${types.join(" or ")}, not ${typeOf(value)}`);
      return errors;
    }
  }
  if (schema.enum && !schema.enum.some((v) => JSON.stringify(v) === JSON.stringify(value))) {
    errors.push(`${at(path)} must be one of ${schema.enum.map((v) => JSON.stringify(v)).join(", ")}`);
  }
  if ("const" in schema && JSON.stringify(schema.const) !== JSON.stringify(value)) {
    errors.push(`${at(path)} must be ${JSON.stringify(schema.const)}`);
  }
  if (typeof value === "number") {
    if (schema.minimum !== undefined && value < schema.minimum) errors.push(`${at(path)} must be >= ${schema.minimum}`);
    if (schema.maximum !== undefined && value > schema.maximum) errors.push(`${at(path)} must be <= ${schema.maximum}`);
    if (schema.exclusiveMinimum !== undefined && value <= schema.exclusiveMinimum) errors.push(`${at(path)} must be > ${schema.exclusiveMinimum}`);
    if (schema.exclusiveMaximum !== undefined && value >= schema.exclusiveMaximum) errors.push(`${at(path)} must be < ${schema.exclusiveMaximum}`);
    if (schema.multipleOf && Math.abs(value / schema.multipleOf - Math.round(value / schema.multipleOf)) > 1e-9) {
      errors.push(`${at(path)} must be a multiple of ${schema.multipleOf}`);
    }
  }
  if (typeof value === "string") {
    if (schema.minLength !== undefined && value.length < schema.minLength) errors.push(`${at(path)} must have at least ${schema.minLength} characters`);
    if (schema.maxLength !== undefined && value.length > schema.maxLength) errors.push(`${at(path)} must have at most ${schema.maxLength} characters`);
    if (schema.pattern) {
      try {
        if (!new RegExp(schema.pattern, "u").test(value)) errors.push(`${at(path)} must match ${schema.pattern}`);
      } catch {
        // a pattern JavaScript cannot read: the server decides
      }
    }
  }
  if (Array.isArray(value)) {
    if (schema.minItems !== undefined && value.length < schema.minItems) errors.push(`${at(path)} must have at least ${schema.minItems} items`);
    if (schema.maxItems !== undefined && value.length > schema.maxItems) errors.push(`${at(path)} must have at most ${schema.maxItems} items`);
    if (schema.items && typeof schema.items === "object") {
      value.forEach((item, i) => validate(item, schema.items, `${path}[${i}]`, errors));
    }
  }
  if (typeOf(value) === "object") {
    const properties = schema.properties || {};
    for (const key of schema.required || []) {
      if (!(key in value)) errors.push(`${at(path)} needs ${path ? `${path}.` : ""}${key}`);
    }
    for (const [key, item] of Object.entries(value)) {
      const where = path ? `${path}.${key}` : key;
      if (key in properties) validate(item, properties[key], where, errors);
      else if (schema.additionalProperties === false) errors.push(`${where} is not a known key`);
      else if (typeof schema.additionalProperties === "object") validate(item, schema.additionalProperties, where, errors);
    }
  }
  for (const part of schema.allOf || []) validate(value, part, path, errors);
  if (schema.anyOf && !schema.anyOf.some((part) => !validate(value, part, path).length)) {
    errors.push(`${at(path)} matches none of the allowed shapes`);
  }
  if (schema.oneOf && schema.oneOf.filter((part) => !validate(value, part, path).length).length !== 1) {
    errors.push(`${at(path)} must match exactly one of the allowed shapes`);
  }
  if (schema.not && !validate(value, schema.not, path).length) errors.push(`${at(path)} has a shape that is not allowed`);
  return errors;
}
