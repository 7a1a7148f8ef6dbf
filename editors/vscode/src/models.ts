/** The model quick pick's items, built from `qwen.listModels`. */

import type { ModelInfo } from './protocol';

export interface ModelPickItem {
  label: string;
  description: string;
  detail: string;
  model: string;
  current: boolean;
}

export const CURRENT_MARK = '$(check)';

/** One item per model, the current one first and marked. */
export function modelPickItems(
  models: readonly ModelInfo[],
  current: string | null | undefined,
): ModelPickItem[] {
  const items = models.map((m) => {
    const isCurrent = m.id === current;
    const name = m.name.trim() !== '' ? m.name : m.id;
    const details = [m.source, m.baseUrl].filter(
      (d): d is string => typeof d === 'string' && d !== '',
    );
    return {
      label: isCurrent ? `${CURRENT_MARK} ${name}` : name,
      description: [name !== m.id ? m.id : undefined, m.authType, isCurrent ? 'current' : undefined]
        .filter((d) => d !== undefined)
        .join(' · '),
      detail: details.join(' · '),
      model: m.id,
      current: isCurrent,
    };
  });
  return [...items.filter((i) => i.current), ...items.filter((i) => !i.current)];
}
