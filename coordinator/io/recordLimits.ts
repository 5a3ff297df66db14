/** Largest record a tab is sent, as UTF-8 JSON (a bigger one is that record's RECORD_TOO_LARGE row). */
export const MAX_RECORD_BYTES = 2 ** 20;
