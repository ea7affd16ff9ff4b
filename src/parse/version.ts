/**
 * Bump whenever parseRecord's output for the same bytes changes. It is stored with every
 * entry's fields (`"v"`), so verify re-derives fields only for entries of its own version.
 */
export const PARSER_VERSION = 1;
