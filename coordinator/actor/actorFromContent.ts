/**
 * A gateway's copy of the job's actor class, from the content it took off NATS: the built-in, or
 * the module's bundle (fetched to the cache) imported. A gateway checks each row its tabs send
 * with the class's own `check`, as `run` does.
 */
import Classifier from '../../actors/classifier.ts';
import type { ActorClass } from '../../shared/actorApi.ts';
import type { RowRules } from '../host/resultCheck.ts';
import { checkActorClass, importActorModule } from './actorClass.ts';
import type { JobContent } from './tabSpec.ts';

export async function actorClassOf(content: JobContent): Promise<ActorClass> {
  if (!content.module) return Classifier as unknown as ActorClass;
  const source = `the job's actor module (${content.module.sha256.slice(0, 12)}…)`;
  return checkActorClass(await importActorModule(content.module.path, source), source, content.config).cls;
}

/** What each row the job's tabs send must be: the declared columns, and the actor's own check with its config. */
export function rowRules(cls: ActorClass, content: Pick<JobContent, 'columns' | 'config'>): RowRules {
  const check = cls.check;
  return { columns: content.columns, check: check ? (row) => check(row, content.config) : undefined };
}
