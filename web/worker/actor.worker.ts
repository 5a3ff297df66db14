/** The actor worker: exposes the actor runtime to the page over comlink. */
import * as Comlink from 'comlink';
import { createActorApi } from './actorRuntime.ts';

Comlink.expose(createActorApi());
