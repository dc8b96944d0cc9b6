import * as vscode from 'vscode';
import { scopeParts } from '../shared/layerNames';
import { imageSizeText, inputTensorText, modelName } from '../shared/modelText';
import type { LayerRowMsg, ModelInfoMsg } from '../shared/protocol';

/** A row of the Model view: a section, a fact, a nested model, or a layer. */
export interface ModelNode {
  label: string;
  description?: string;
  tooltip?: string;
  icon?: string;
  children?: ModelNode[];
  /** Set on layers usable for Grad-CAM: the "Use for Grad-CAM" action applies. */
  gradcamLayer?: string;
  layer?: LayerRowMsg;
  /** A command run when the row is clicked. */
  command?: vscode.Command;
}

/** The command that gives an unlabelled 1000-class model the ImageNet class names. */
export const USE_IMAGENET_LABELS = 'saliencyLens.useImagenetLabels';

const count = (n: number) => n.toLocaleString('en-US');
const shape = (s: (number | null)[]) => `[${s.map((d) => d ?? '?').join(', ')}]`;

/**
 * Layers grouped by nested model: "backbone/conv1" sits under a "backbone" node. ONNX node names from
 * PyTorch carry the module path ("/layer1/layer1.0/conv1/Conv"), so they group by module the same way.
 */
function layerNodes(info: ModelInfoMsg, current: string | undefined): ModelNode[] {
  const usable = new Set(info.spatialLayers.map((l) => l.name));
  const groupKind = info.format === 'onnx' ? 'module' : 'nested model';
  const root: ModelNode[] = [];
  const groups = new Map<string, ModelNode>();
  for (const layer of info.layers) {
    // TF graph nodes carry call-wrapper scopes (StatefulPartitionedCall/…): grouped without them.
    const parts = scopeParts(layer.name);
    let siblings = root;
    for (let i = 0; i < parts.length - 1; i++) {
      const key = parts.slice(0, i + 1).join('/');
      let group = groups.get(key);
      if (!group) {
        group = { label: parts[i], description: groupKind, icon: 'symbol-namespace', children: [] };
        groups.set(key, group);
        siblings.push(group);
      }
      siblings = group.children!;
    }
    const isCurrent = layer.name === current;
    const marks = [isCurrent ? 'Grad-CAM' : '', layer.name === info.defaultSpatialLayer ? 'auto' : ''].filter(Boolean).join(', ');
    siblings.push({
      label: parts[parts.length - 1],
      description: `${layer.type} ${shape(layer.outputShape)}${layer.params ? ` · ${count(layer.params)}` : ''}${marks ? ` · ${marks}` : ''}`,
      tooltip: `${layer.name}\n${layer.type}, output ${shape(layer.outputShape)}, ${count(layer.params)} parameters` +
        (usable.has(layer.name) ? '\nUsable for Grad-CAM' : '') +
        (layer.name === info.defaultSpatialLayer && info.defaultSpatialLayerReason ? `\nChosen automatically: ${info.defaultSpatialLayerReason}` : ''),
      icon: isCurrent ? 'target' : usable.has(layer.name) ? 'circle-outline' : 'circle-small',
      gradcamLayer: usable.has(layer.name) ? layer.name : undefined,
      layer,
    });
  }
  return root;
}

/** The "Model" view: the selected model's input, output and layers, with the Grad-CAM layer in use. */
export class ModelTreeProvider implements vscode.TreeDataProvider<ModelNode>, vscode.Disposable {
  private readonly changed = new vscode.EventEmitter<void>();
  readonly onDidChangeTreeData = this.changed.event;
  private info?: ModelInfoMsg;
  /** The model that did not load, and why: shown instead of the previous model. */
  private failure?: { modelPath: string; message: string };
  /** The layer chosen with "Use for Grad-CAM"; undefined = the automatic choice. */
  chosenLayer?: string;

  /** Shows a (new or reloaded) model; a chosen layer the new model lacks falls back to automatic. */
  show(info: ModelInfoMsg): void {
    if (this.chosenLayer && !info.spatialLayers.some((l) => l.name === this.chosenLayer)) this.chosenLayer = undefined;
    this.info = info;
    this.failure = undefined;
    this.changed.fire();
  }

  /** The model at `modelPath` did not load: the view says so, not what the previous model was. */
  fail(modelPath: string, message: string): void {
    this.info = undefined;
    this.failure = { modelPath, message };
    this.changed.fire();
  }

  useLayer(layer: string): void {
    this.chosenLayer = layer === this.info?.defaultSpatialLayer ? undefined : layer;
    this.changed.fire();
  }

  /** The Grad-CAM layer in use: the chosen one, else the model's automatic choice. */
  get currentLayer(): string | undefined {
    return this.chosenLayer ?? this.info?.defaultSpatialLayer;
  }

  roots(): ModelNode[] {
    const info = this.info;
    if (!info) {
      const failed = this.failure;
      return failed ? [{ label: 'Not loaded', icon: 'error', description: failed.message, tooltip: `${failed.modelPath}\n${failed.message}` }] : [];
    }
    // The model's own tensor (NCHW for PyTorch exports) and the image it is made from, each as it is.
    const tensor = info.modelInput ? inputTensorText(info.modelInput) : shape(info.inputShape);
    return [
      {
        label: 'Input', icon: 'arrow-right', description: tensor,
        children: [
          { label: 'tensor', description: tensor },
          ...(info.imageSize ? [{ label: 'image', description: imageSizeText(info.imageSize) }] : []),
          { label: 'dtype', description: 'float32' },
          { label: 'preprocessing', description: info.preprocessing },
        ],
      },
      {
        label: 'Output', icon: 'arrow-left', description: `${info.numClasses} classes`,
        children: [
          { label: 'output', description: info.outputName },
          { label: 'classes', description: `${info.numClasses}${info.labelsSource ? ' (labelled)' : ''}` },
          ...(info.labelsSource ? [{ label: 'labels', icon: 'tag', description: info.labelsSource }] : []),
          ...(info.numClasses === 1000 && !info.labelsSource
            ? [{
              label: 'labels', icon: 'tag', description: 'none: click to use the ImageNet class names',
              tooltip: 'Writes "labels": "imagenet" into saliency-lens.json beside the model',
              command: { command: USE_IMAGENET_LABELS, title: 'Use ImageNet Class Names', arguments: [info.path] },
            }]
            : []),
          {
            label: 'attribution target',
            description: info.outputActivation === 'none' ? 'logits (the model ends without softmax)' : `logits (its ${info.outputActivation} is removed)`,
          },
        ],
      },
      {
        label: 'Layers', icon: 'layers', description: `${count(info.layers.length)} · ${count(info.totalParams)} parameters`,
        children: layerNodes(info, this.currentLayer),
      },
    ];
  }

  getChildren(node?: ModelNode): ModelNode[] {
    return node ? node.children ?? [] : this.roots();
  }

  getTreeItem(node: ModelNode): vscode.TreeItem {
    const expanded = node.label === 'Layers' || node.label === 'Input' || node.label === 'Output';
    const item = new vscode.TreeItem(node.label, node.children
      ? (expanded ? vscode.TreeItemCollapsibleState.Expanded : vscode.TreeItemCollapsibleState.Collapsed)
      : vscode.TreeItemCollapsibleState.None);
    item.description = node.description;
    item.tooltip = node.tooltip;
    if (node.icon) item.iconPath = new vscode.ThemeIcon(node.icon);
    if (node.gradcamLayer) item.contextValue = 'gradcamLayer';
    if (node.command) item.command = node.command;
    return item;
  }

  /** Title of the view: which model it shows. */
  get title(): string {
    const shown = this.info?.path ?? this.failure?.modelPath;
    return shown ? `Model: ${modelName(shown)}` : 'Model';
  }

  dispose(): void {
    this.changed.dispose();
  }
}
