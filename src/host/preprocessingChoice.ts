import * as vscode from 'vscode';

/** The preprocessing the host gives the engine for a model, and where it comes from (as the panel and Model view say). */
export interface PreprocessingChoice {
  preprocessing?: string;
  preprocessingSource?: string;
}

/**
 * One rule for every request about a model (panels, the Model view, Explain Folder): the preset picked in a panel
 * for this model, else the `saliencyLens.preprocessing` setting, else nothing (the engine uses the model's own
 * declaration or its inferred default, and names that source itself).
 */
export function preprocessingChoice(pickedInPanel: string | undefined): PreprocessingChoice {
  if (pickedInPanel) return { preprocessing: pickedInPanel, preprocessingSource: 'picked in the panel for this model' };
  const configured = vscode.workspace.getConfiguration('saliencyLens').get<string>('preprocessing')?.trim();
  return configured ? { preprocessing: configured, preprocessingSource: 'the saliencyLens.preprocessing setting' } : {};
}
