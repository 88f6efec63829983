// The host's interfaces, as this component imports them: one object per interface, or null for
// one it does not import. This file is the JavaScript code step's (log, variables, records,
// http, clock); `flowbox step build` writes a project's own, with only the interfaces its code
// uses, so the component asks for exactly those grants.

import { write as logWrite } from 'flowbox:step/log@0.1.0';
import { get as variablesGet, set as variablesSet } from 'flowbox:step/variables@0.1.0';
import {
  get as recordsGet,
  updateFields as recordsUpdateFields,
  increment as recordsIncrement,
  createRelated as recordsCreateRelated,
  addActivity as recordsAddActivity,
} from 'flowbox:step/records@0.1.0';
import { send as httpSend } from 'flowbox:step/http@0.1.0';
import { nowMillis as clockNowMillis } from 'flowbox:step/clock@0.1.0';

export const log = { write: logWrite };
export const variables = { get: variablesGet, set: variablesSet };
export const records = {
  get: recordsGet,
  updateFields: recordsUpdateFields,
  increment: recordsIncrement,
  createRelated: recordsCreateRelated,
  addActivity: recordsAddActivity,
};
export const files = null;
export const teams = null;
export const email = null;
export const http = { send: httpSend };
export const llm = null;
export const audio = null;
export const clock = { nowMillis: clockNowMillis };
