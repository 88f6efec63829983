// What a step project imports as 'flowbox' (`import { log, records, http } from 'flowbox'`):
// index.js and the http client. index.js is evaluated first, so http.js can extend its errors.
export * from './index.js';
export { http, fetch } from './http.js';
